"""`converge serve`: run the serving app under uvicorn."""

from __future__ import annotations

import logging
import os

import click

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; each loads the champion and has its own event loop and metrics.",
)
@click.option("--log-level", default="info", show_default=True)
def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """Serve predictions from the champion MOJO (POST /v1/predict, /graphql, /ready, /metrics)."""
    import uvicorn  # imported here so that `converge --help` stays light
    from pydantic import ValidationError

    from serving.config import get_serving_settings
    from serving.launch import HTTP_PROTOCOL
    from shared.kernel_cache import use_shipped_cache
    from shared.logs import configure_logging, logging_config
    from shared.settings import get_settings

    log_config = logging_config(log_level, get_settings().converge_log_format)
    configure_logging(log_level, get_settings().converge_log_format)
    # Before any worker imports numba, which reads NUMBA_* once; workers inherit os.environ.
    try:
        serving = get_serving_settings()
    except ValidationError as exc:
        errors = "; ".join(
            f"CONVERGE_SERVING_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise click.ClickException(f"invalid serving setting: {errors}") from exc
    shipped = serving.kernel_cache
    why_not = use_shipped_cache(shipped, os.environ)
    if why_not is None:
        log.info("numba kernels: using the shipped cache %s", shipped)
    else:  # a warning when a configured cache cannot be used
        level = logging.INFO if shipped is None else logging.WARNING
        log.log(level, "numba kernels compile at start-up: %s", why_not)
    log.info("workers run the %s event loop", serving.event_loop)
    uvicorn.run(
        "serving.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=log_config,
        loop=serving.event_loop,
        http=HTTP_PROTOCOL,
    )

"""The serving app in a subprocess (uvicorn or `converge serve`) for tests that use real HTTP."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from serving.launch import app_process, wait_until_ready
from shared.net import free_port

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def uvicorn_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """Start `serving.main:app` with `env` on a free port; yield its base URL once /ready is 200."""
    argv = [sys.executable, "-m", "uvicorn", "serving.main:app", "--host", "127.0.0.1"]
    with _served(argv, env, log) as base:
        yield base


@contextlib.contextmanager
def converge_serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """`converge serve` (1 worker, info logs) with `env`; yields its base URL once /ready is 200."""
    argv = [sys.executable, "-c", "from converge.cli import main; main()", "serve"]
    with _served([*argv, "--log-level", "info"], env, log) as base:
        yield base


@contextlib.contextmanager
def _served(argv: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with (
        log.open("wb") as log_file,
        app_process(
            [*argv, "--port", str(port)],
            {**os.environ, "PYTHONPATH": str(REPO), **env},
            output=log_file,
            cwd=REPO,
        ) as process,
    ):
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, process, timeout_s=240, poll_s=0.1)  # slow imports under load
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from exc
        yield base

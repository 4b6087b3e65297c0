"""The serving app factory and its lifespan: connections, breakers, model, background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import BlockingConnectionPool, Redis

from serving.api.admission import Admission, AdmissionMiddleware
from serving.api.batch_body_limit import BatchAwareBodyLimit
from serving.api.errors import validation_error
from serving.api.middleware import LatencyMiddleware
from serving.api.routes import batch, health, metrics, predict, v2
from serving.breaker import AioBreaker, BreakerState
from serving.config import ServingSettings, get_serving_settings
from serving.features import FeatureLookup
from serving.graphql.router import graphql_router
from serving.installed_versions import report_installed_versions
from serving.loop_monitor import monitor_loop_lag
from serving.metrics import ServingMetrics
from serving.model_holder import ModelHolder
from serving.predictor import Predictor
from serving.probes import LoopHeartbeat, ProbeAnswer, Probes, ProbeServer
from serving.state import ServingState
from serving.static_assets import mount_static_assets
from shared.db import database_url
from shared.settings import Settings, get_settings
from shared.versions import pinned_versions

log = logging.getLogger(__name__)

# Routes that do work per request; /health, /ready and /metrics stay answerable under overload.
SCORING_PREFIXES = ("/v1/", "/graphql", "/v2/models/")
# How often the loop stamps the probes' heartbeat: far finer than any stall limit worth setting.
HEARTBEAT_INTERVAL_S = 0.1


def create_app(
    serving_settings: ServingSettings | None = None, settings: Settings | None = None
) -> FastAPI:
    """A serving app; settings default to the environment's."""
    serving_settings = serving_settings or get_serving_settings()
    settings = settings or get_settings()
    metrics_ = ServingMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Probes first: the pod is live (and says why it is not ready) while the champion loads.
        async with (
            probe_port_while_running(serving_settings, lambda: getattr(app.state, "serving", None)),
            _serving_state(serving_settings, settings, metrics_) as state,
        ):
            app.state.serving = state
            yield

    otel = serving_settings.otel_telemetry
    app = FastAPI(
        title="converge serving",
        lifespan=lifespan,
        telemetry={"tracing": otel, "metrics": otel, "logs": otel},
        docs_url=None,  # served from local files by mount_static_assets, not from a CDN
        redoc_url=None,
    )
    mount_static_assets(app)
    # Added first, so it runs inside LatencyMiddleware: refused requests are timed too.
    admission = Admission(
        max_in_flight=serving_settings.max_in_flight,
        retry_after_s=serving_settings.retry_after_s,
        prefixes=SCORING_PREFIXES,
        on_shed=lambda prefix: metrics_.requests_shed.labels(prefix).inc(),
    )
    # Where serving.api.refusing_protocol finds it, to refuse before the ASGI app is called.
    app.state.admission = admission
    app.add_middleware(AdmissionMiddleware, admission=admission)
    # Inside LatencyMiddleware (413s are timed), outside admission (a 413 takes no slot).
    app.add_middleware(
        BatchAwareBodyLimit,
        max_bytes=serving_settings.max_body_bytes,
        batch_max_bytes=serving_settings.batch_max_body_bytes,
    )
    app.add_middleware(LatencyMiddleware, metrics=metrics_)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(predict.router)
    app.include_router(batch.router)
    app.include_router(v2.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(graphql_router(serving_settings, settings), prefix="/graphql")
    return app


def _breaker(name: str, cfg: ServingSettings, metrics_: ServingMetrics) -> AioBreaker:
    def changed(dependency: str, state: BreakerState) -> None:
        metrics_.set_breaker_state(dependency, state)
        log.warning("%s circuit breaker is now %s", dependency, state.value)

    return AioBreaker(
        name,
        fail_max=cfg.breaker_fail_max,
        reset_timeout_s=cfg.breaker_reset_timeout_s,
        on_state_change=changed,
    )


@contextlib.asynccontextmanager
async def probe_port_while_running(
    cfg: ServingSettings, current_state: Callable[[], ServingState | None]
) -> AsyncIterator[None]:
    """Answer /live and /ready on `cfg.probe_port` from a thread while the app runs (if set)."""
    if cfg.probe_port is None:
        yield
        return

    def readiness() -> ProbeAnswer:
        state = current_state()
        if state is None:
            return 503, {"ready": False, "reason": "starting: the champion is being loaded"}
        return state.readiness()

    heartbeat = LoopHeartbeat(HEARTBEAT_INTERVAL_S)
    task = asyncio.create_task(heartbeat.run(), name="loop-heartbeat")
    server = ProbeServer(
        Probes(heartbeat, cfg.probe_max_loop_stall_s, readiness), cfg.probe_host, cfg.probe_port
    )
    server.start()
    try:
        yield
    finally:
        server.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def _serving_state(
    cfg: ServingSettings, settings: Settings, metrics_: ServingMetrics
) -> AsyncIterator[ServingState]:
    """Build every long-lived part, load the champion, run the background tasks; close on exit."""
    db_url = database_url(settings, component="serving")
    cache_dir = Path(cfg.model_cache_dir or settings.converge_home / "serving" / "models")
    report_installed_versions(metrics_, pinned_versions())  # logged and exported, not fatal
    holder = ModelHolder(
        db_url,
        artifact_store_uri=settings.resolved_artifact_store_uri,
        expected_h2o_version=pinned_versions().h2o_version,
        cache_dir=cache_dir,
        metrics=metrics_,
        poll_interval_s=cfg.model_poll_interval_s,
    )
    await holder.start()  # a refused champion never stops start-up: see ModelHolder.start

    breakers = {name: _breaker(name, cfg, metrics_) for name in ("redis", "postgres")}
    # A blocking pool: past max connections a call waits (within its timeout) instead of failing.
    redis = Redis(
        connection_pool=BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=cfg.redis_pool_max_size,
            timeout=cfg.redis_timeout_s,
            socket_connect_timeout=cfg.redis_timeout_s,
            socket_timeout=cfg.redis_timeout_s,
        )
    )
    pool = AsyncConnectionPool(
        db_url, min_size=1, max_size=cfg.db_pool_max_size, open=False, timeout=cfg.db_timeout_s
    )
    await pool.open(wait=False)
    executor = ThreadPoolExecutor(cfg.executor_workers, thread_name_prefix="converge-score")
    lookup = FeatureLookup(
        redis,
        pool,
        redis_breaker=breakers["redis"],
        db_breaker=breakers["postgres"],
        redis_timeout_s=cfg.redis_timeout_s,
        db_timeout_s=cfg.db_timeout_s,
        default_features=cfg.default_features,
        cache_ttl_s=cfg.cache_ttl_s,
        key_prefix=cfg.cache_key_prefix,
        metrics=metrics_,
    )
    predictor = Predictor(
        holder,
        lookup,
        executor,
        max_wait_s=cfg.batch_max_wait_ms / 1000,
        max_size=cfg.batch_max_size,
        on_batch=metrics_.batch_size.observe,
    )
    tasks = [
        asyncio.create_task(
            monitor_loop_lag(metrics_.loop_lag, cfg.loop_lag_interval_s, cfg.loop_lag_warning_ms),
            name="loop-lag-monitor",
        ),
        asyncio.create_task(holder.follow(), name="champion-follower"),
    ]
    _freeze_startup_heap()
    try:
        yield ServingState(cfg, metrics_, pool, holder, predictor, breakers, lookup)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await predictor.drain()
        executor.shutdown(wait=True)
        await pool.close()
        await redis.aclose()


def _freeze_startup_heap() -> None:
    """Move every object alive after start-up out of the cyclic garbage collector's reach.

    Imports and the champion's compiled kernels leave a few hundred thousand long-lived objects;
    each full (generation 2) collection under load would traverse all of them, a 40-100 ms pause
    of the event loop. Frozen, they are never scanned again; what requests allocate still is.
    """
    gc.collect()
    gc.freeze()

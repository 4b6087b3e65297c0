"""Test fixture apps for validate_event_loop: one whose /v1/predict blocks the event loop (the bug
the script must catch), and an otherwise identical one that does not (the machine's baseline).

Both export the same loop-lag histogram as the real app, measured by the real monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.config import ServingSettings
from serving.loop_monitor import monitor_loop_lag
from serving.metrics import ServingMetrics


def make_app(block_s: float) -> FastAPI:
    """An app whose POST /v1/predict sleeps `block_s` synchronously (0: does not block)."""
    metrics = ServingMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The real app's sampling interval, so both measure lag the same way.
        interval_s = ServingSettings().loop_lag_interval_s
        task = asyncio.create_task(monitor_loop_lag(metrics.loop_lag, interval_s, warning_ms=50))
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/v1/predict")
    async def predict() -> dict[str, float]:
        if block_s:
            time.sleep(block_s)  # noqa: ASYNC251 - the bug under test: sync work on the loop
        return {"blocked_s": block_s}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


app = make_app(0.03)
idle_app = make_app(0.0)

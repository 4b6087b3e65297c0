"""A test fixture app whose /v1/predict blocks the event loop (what validate_event_loop must catch).

It exports the same loop-lag histogram as the real app, measured by the real monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.loop_monitor import monitor_loop_lag
from serving.metrics import ServingMetrics

metrics = ServingMetrics()


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(monitor_loop_lag(metrics.loop_lag, 0.02, warning_ms=50))
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)


@app.get("/ready")
async def ready() -> dict[str, bool]:
    return {"ready": True}


@app.post("/v1/predict")
async def predict() -> dict[str, str]:
    time.sleep(0.03)  # the bug under test: synchronous work on the event loop
    return {"blocked": "30 ms"}


@app.get("/metrics")
async def prometheus_metrics() -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

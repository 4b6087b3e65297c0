"""Annotated dependencies: a route's signature says which part of the serving state it uses.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool, a thread
hop (and GIL handover) per request for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.metrics import ServingMetrics
from serving.state import ServingState


def serving_state(request: Request) -> ServingState:
    """The state the lifespan built (read directly by the hot /v1/predict route)."""
    state: ServingState = request.app.state.serving
    return state


async def get_state(request: Request) -> ServingState:
    """The state the lifespan built, as a dependency."""
    return serving_state(request)


StateDep = Annotated[ServingState, Depends(get_state)]


async def get_metrics(state: StateDep) -> ServingMetrics:
    """The app's Prometheus metrics."""
    return state.metrics


MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]

"""Annotated dependencies: a route's signature says which part of the serving state it uses.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool, a thread
hop (and GIL handover) per request for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.state import ServingState


async def get_state(request: Request) -> ServingState:
    """The state the lifespan built."""
    state: ServingState = request.app.state.serving
    return state


StateDep = Annotated[ServingState, Depends(get_state)]


async def get_predictor(state: StateDep) -> Predictor:
    """The predictor (feature lookup + micro-batched scoring)."""
    return state.predictor


async def get_metrics(state: StateDep) -> ServingMetrics:
    """The app's Prometheus metrics."""
    return state.metrics


PredictorDep = Annotated[Predictor, Depends(get_predictor)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]

"""Prometheus exposition of the app's metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api.deps import MetricsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
async def prometheus_metrics(metrics: MetricsDep) -> Response:
    """Every serving metric in the Prometheus text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

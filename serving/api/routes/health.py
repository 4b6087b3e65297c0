"""Liveness and readiness on the main port (see serving/probes.py for the probe port)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.api.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Readiness: a verified model is loaded (see ServingState.readiness)."""
    status, body = state.readiness()
    return JSONResponse(body, status_code=status)

"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

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
    """Readiness: a verified model is loaded (the champion, or the newest earlier one when the
    champion was refused: `refused` says which and why); reports each breaker's state."""
    model = state.holder.current
    breakers = {name: breaker.state.value for name, breaker in state.breakers.items()}
    body: dict[str, Any] = {"ready": model is not None, "breakers": breakers}
    refused = state.holder.refused
    if refused is not None:
        body["refused"] = {
            "model_version": refused.model_version,
            "reason": refused.reason,
            "message": str(refused),
        }
    if model is None:
        body["reason"] = state.holder.not_ready_reason
        return JSONResponse(body, status_code=503)
    body["model"] = {
        "model_version": model.model_version,
        "h2o_version": model.h2o_version,
        "algo": model.algo,
        "artifact_sha256": model.artifact_sha256,
        "versions_verified": True,
    }
    return JSONResponse(body)

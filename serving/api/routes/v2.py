"""The Open Inference Protocol's REST routes (KServe v2, Triton, MLServer): health, metadata, infer.

Existing v2 clients work unchanged: the champion answers as the model `champion` (see serving.oip
for the tensors). Errors are `{"error": "..."}`: 400 for a bad request, 404 for an unknown model,
503 while no champion is loaded. Infer decodes, scores and encodes in the scoring pool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from serving.api.deps import StateDep, serving_state
from serving.oip import MODEL_NAME, InferRequest, OipError, check_model_name, infer, model_metadata
from serving.predictor import NoChampionError
from serving.scoring import LoadedModel
from shared.mojo import MojoInputError

router = APIRouter(prefix="/v2", tags=["open inference protocol"])


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@router.get("")
async def server_metadata() -> dict[str, Any]:
    """Server metadata: name, version, protocol extensions (none)."""
    return {"name": "converge", "version": "2", "extensions": []}


@router.get("/health/live")
async def live() -> dict[str, bool]:
    """Liveness: the process answers."""
    return {"live": True}


@router.get("/health/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Readiness: a champion is loaded (503 otherwise, with the reason)."""
    if state.holder.current is None:
        return _error(f"not ready: {state.holder.not_ready_reason}", 503)
    return JSONResponse({"ready": True})


@router.get("/models/{name}")
async def metadata(name: str, state: StateDep) -> JSONResponse:
    """The model's metadata: versions, platform, one input per feature, one output per column."""
    model = state.holder.current
    try:
        check_model_name(name)
    except OipError as exc:
        return _error(str(exc), exc.status)
    if model is None:
        return _error(f"model '{MODEL_NAME}' is not loaded: {state.holder.not_ready_reason}", 503)
    return JSONResponse(model_metadata(model))


@router.get("/models/{name}/ready")
async def model_ready(name: str, state: StateDep) -> JSONResponse:
    """Model readiness: 200 when the champion is loaded, 503 when not."""
    try:
        check_model_name(name)
    except OipError as exc:
        return _error(str(exc), exc.status)
    is_ready = state.holder.current is not None
    status = 200 if is_ready else 503
    return JSONResponse({"name": MODEL_NAME, "ready": is_ready}, status_code=status)


def _answer(body: bytes, model: LoadedModel, max_rows: int) -> bytes:
    """The infer response document for `body` (runs in the scoring pool)."""
    try:
        request = InferRequest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise OipError(f"{where}: {first['msg']}") from exc
    return infer(request, model, max_rows)


@router.post("/models/{name}/infer")
async def model_infer(name: str, request: Request) -> Response:
    """Score the request's input tensors with the champion."""
    body = await request.body()
    state = serving_state(request)
    max_rows = state.settings.batch_max_rows
    try:
        check_model_name(name)
        answer = await state.predictor.on_champion(lambda model: _answer(body, model, max_rows))
    except OipError as exc:
        return _error(str(exc), exc.status)
    except NoChampionError as exc:
        return _error(f"model '{MODEL_NAME}' is not loaded: {exc}", 503)
    except MojoInputError as exc:  # a value the model cannot read; the message names the column
        return _error(f"inputs cannot be scored: {exc}", 400)
    return Response(answer, media_type="application/json")

"""POST /v1/predict/batch: many inline feature rows scored in one request, in one call.

A client with 10,000 rows sends one request instead of 10,000. Decoding, checking, scoring and
rendering all run in the scoring pool (a 10,000-row body is tens of milliseconds of CPU that the
event loop must not spend), and the rows are scored in one vectorized call, not through the
micro-batcher. Rows that all name the same keys in the same order (a table, as clients send it)
are read column by column, and the answer is written from the scores without a dict per row.
The body limit of these routes is CONVERGE_SERVING_BATCH_MAX_BODY_BYTES.
"""

from __future__ import annotations

from itertools import compress, count
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from serving.api.deps import serving_state
from serving.prediction_json import prediction_rows_json
from serving.predictor import NoChampionError
from serving.scoring import LoadedModel, Prediction
from shared.mojo import MojoInputError
from shared.schemas import BatchPredictionRequest, FeatureRows, FeatureRowsError, feature_rows

router = APIRouter(tags=["predict"])


class BatchPredictResponse(BaseModel):
    """One prediction per row, in request order, from one champion."""

    model_version: int
    predictions: list[Prediction]


_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": BatchPredictionRequest.model_json_schema()}},
}


def score_body(body: bytes, model: LoadedModel, max_rows: int) -> bytes:
    """The response to a batch body (runs in the scoring pool); FeatureRowsError if refused."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeatureRowsError((), f"not valid JSON: {exc}") from exc
    given = document.get("rows") if isinstance(document, dict) else None
    if isinstance(given, list) and len(given) > max_rows:  # before any per-row work
        raise FeatureRowsError(
            ("rows",),
            f"{len(given)} rows; at most {max_rows} per request (CONVERGE_SERVING_BATCH_MAX_ROWS)",
        )
    checked = feature_rows(document)
    columns = model.mojo.columns
    index = _first_row_naming_nothing(checked, frozenset(columns))
    if index is not None:
        raise MojoInputError(
            f"rows.{index} names no column of champion model_version {model.model_version} "
            f"(it reads: {', '.join(columns)})"
        )
    preds = (
        model.mojo.score_rows(checked.rows)
        if checked.columns is None
        else model.mojo.score_columns(checked.columns, len(checked.rows))
    )
    # PredictCsv's rows as predict_rows returns them, written without a dict per row.
    predictions = orjson.Fragment(prediction_rows_json(model.mojo, preds))
    return orjson.dumps({"model_version": model.model_version, "predictions": predictions})


def _first_row_naming_nothing(checked: FeatureRows, known: frozenset[str]) -> int | None:
    """As for one inline vector: a row naming nothing the model reads is a mistake."""
    if checked.columns is not None:  # every row names these keys
        return None if not known.isdisjoint(checked.columns) else 0
    return next(compress(count(), map(known.isdisjoint, checked.rows)), None)


@router.post(
    "/v1/predict/batch",
    response_model=BatchPredictResponse,
    responses={
        413: {"description": "Body over CONVERGE_SERVING_BATCH_MAX_BODY_BYTES"},
        422: {"description": "A field is invalid or over its cap (named in `detail`)"},
        503: {"description": "No champion is being served"},
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def predict_batch(request: Request) -> Response:
    """Predictions for inline feature rows, in request order."""
    body = await request.body()
    state = serving_state(request)
    max_rows = state.settings.batch_max_rows
    try:
        answer = await state.predictor.on_champion(lambda model: score_body(body, model, max_rows))
    except FeatureRowsError as exc:
        error: dict[str, Any] = {"loc": ("body", *exc.loc), "msg": exc.msg, "type": "value_error"}
        raise RequestValidationError([error]) from exc
    except NoChampionError as exc:
        raise HTTPException(503, detail=f"no model to score with: {exc}") from exc
    except MojoInputError as exc:
        raise HTTPException(422, detail=f"features cannot be scored: {exc}") from exc
    return Response(answer, media_type="application/json")

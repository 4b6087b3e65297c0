"""POST /v1/predict: score one entity, many entities, or an inline feature vector."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from serving.api.deps import PredictorDep
from serving.predictor import EntityPrediction, NoChampionError
from serving.scoring import Prediction
from shared.mojo import MojoInputError
from shared.schemas import PredictionRequest

router = APIRouter(tags=["predict"])


class PredictionOut(BaseModel):
    """One subject's prediction and where its features came from."""

    entity_id: str | None
    source: str
    degraded: bool
    prediction: Prediction


class PredictResponse(BaseModel):
    """The predictions, in request order, from one champion."""

    model_version: int
    degraded: bool
    predictions: list[PredictionOut]


def _response(results: list[EntityPrediction]) -> PredictResponse:
    return PredictResponse(
        model_version=results[0].model_version,
        degraded=any(result.degraded for result in results),
        predictions=[
            PredictionOut(
                entity_id=result.entity_id,
                source=result.source.value,
                degraded=result.degraded,
                prediction=result.prediction,
            )
            for result in results
        ],
    )


@router.post("/v1/predict", responses={503: {"description": "No champion is being served"}})
async def predict(request: PredictionRequest, predictor: PredictorDep) -> PredictResponse:
    """Predictions with features from the cache, the feature store, the default, or the request."""
    try:
        if request.features is not None:
            return _response([await predictor.predict_features(request.features)])
        if request.entity_ids is not None:
            return _response(await predictor.predict_entities(request.entity_ids))
        if request.entity_id is not None:
            return _response(await predictor.predict_entities([request.entity_id]))
    except NoChampionError as exc:
        raise HTTPException(503, detail=f"no model to score with: {exc}") from exc
    except MojoInputError as exc:  # a value the model cannot read; the message names the column
        raise HTTPException(422, detail=f"features cannot be scored: {exc}") from exc
    raise AssertionError("PredictionRequest guarantees exactly one subject")  # unreachable

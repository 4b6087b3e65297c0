"""What the app's lifespan builds and the routes use: one object on `app.state.serving`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from serving.breaker import AioBreaker
from serving.config import ServingSettings
from serving.features import FeatureLookup
from serving.metrics import ServingMetrics
from serving.model_holder import ModelHolder
from serving.predictor import Predictor


@dataclass
class ServingState:
    """The serving app's long-lived parts, built at start-up and closed at shutdown."""

    settings: ServingSettings
    metrics: ServingMetrics
    pool: AsyncConnectionPool
    holder: ModelHolder
    predictor: Predictor
    breakers: dict[str, AioBreaker]
    lookup: FeatureLookup  # the GraphQL API reads features through it, as predictions do

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """(status, body) of /ready: 200 when a verified model is loaded (the champion, or the
        newest earlier one when the champion was refused: `refused` says which and why), else 503
        with the reason; each breaker's state either way."""
        model = self.holder.current
        breakers = {name: breaker.state.value for name, breaker in self.breakers.items()}
        body: dict[str, Any] = {"ready": model is not None, "breakers": breakers}
        refused = self.holder.refused
        if refused is not None:
            body["refused"] = {
                "model_version": refused.model_version,
                "reason": refused.reason,
                "message": str(refused),
            }
        if model is None:
            body["reason"] = self.holder.not_ready_reason
            return 503, body
        body["model"] = {
            "model_version": model.model_version,
            "h2o_version": model.h2o_version,
            "algo": model.algo,
            "artifact_sha256": model.artifact_sha256,
            "versions_verified": True,
        }
        return 200, body

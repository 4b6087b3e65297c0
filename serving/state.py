"""What the app's lifespan builds and the routes use: one object on `app.state.serving`."""

from __future__ import annotations

from dataclasses import dataclass

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

"""Per-request DataLoaders: N entities in one query cost one SQL statement and one scoring batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool
from strawberry.dataloader import DataLoader

from serving.graphql.limits import PredictionBudget
from serving.predictor import EntityPrediction, Predictor
from shared.feature_store import FeatureRow, latest_async


@dataclass(frozen=True)
class Loaders:
    """The loaders of one GraphQL request (a new set per request, so nothing is cached across)."""

    features: DataLoader[str, FeatureRow | None]
    predictions: DataLoader[str, EntityPrediction]


def make_loaders(
    pool: AsyncConnectionPool, predictor: Predictor, budget: PredictionBudget
) -> Loaders:
    """Loaders reading the feature store through `pool`, scoring through `predictor` in `budget`."""

    async def load_features(entity_ids: Sequence[str]) -> list[FeatureRow | None]:
        async with pool.connection() as conn:
            rows = await latest_async(conn, list(entity_ids))
        return [rows.get(entity_id) for entity_id in entity_ids]

    async def load_predictions(entity_ids: Sequence[str]) -> list[EntityPrediction]:
        budget.spend(len(entity_ids))  # before scoring: an over-budget request costs nothing
        return await predictor.predict_entities(list(entity_ids))

    return Loaders(DataLoader(load_fn=load_features), DataLoader(load_fn=load_predictions))

"""Per-request DataLoaders: every list costs one feature lookup, SQL statement or scoring batch.

Feature reads go through the serving app's FeatureLookup, as REST predictions do: latest rows
from Redis, else PostgreSQL, else the default vector; as-of rows from PostgreSQL (a cache of
latest rows cannot answer them), each dependency behind its circuit breaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from strawberry.dataloader import DataLoader

from serving.features import FeaturesAsOf, ResolvedFeatures
from serving.graphql.limits import ClientError, PredictionBudget
from serving.predictor import EntityPrediction
from serving.state import ServingState
from shared.registry import Champion, ModelRecord, current_champion_async, models_by_version_async


class FeatureStoreUnavailableError(ClientError):
    """PostgreSQL could not answer (down, slow or its breaker open)."""


@dataclass(frozen=True)
class Loaders:
    """The loaders of one GraphQL request (a new set per request, so nothing is cached across)."""

    latest_features: DataLoader[str, ResolvedFeatures]
    features_as_of: DataLoader[tuple[str, datetime], FeaturesAsOf | None]
    latest_event_timestamps: DataLoader[str, datetime | None]
    predictions: DataLoader[str, EntityPrediction]
    models: DataLoader[int, ModelRecord | None]
    champion: DataLoader[None, Champion | None]


def make_loaders(state: ServingState, budget: PredictionBudget) -> Loaders:
    """Loaders reading through `state`'s feature lookup and pool, scoring within `budget`."""
    lookup, pool, timeout_s = state.lookup, state.pool, state.settings.db_timeout_s

    async def load_latest(entity_ids: Sequence[str]) -> list[ResolvedFeatures]:
        resolved = await lookup.resolve(entity_ids)
        return [resolved[entity_id] for entity_id in entity_ids]

    async def load_as_of(keys: Sequence[tuple[str, datetime]]) -> list[FeaturesAsOf | None]:
        return await lookup.resolve_as_of([k[0] for k in keys], [k[1] for k in keys])

    async def load_timestamps(entity_ids: Sequence[str]) -> list[datetime | None]:
        rows = await lookup.latest_rows(entity_ids)
        if rows is None:  # counted as a fallback by the lookup; no default time to give
            raise FeatureStoreUnavailableError(
                "latestEventTimestamp: the feature store (PostgreSQL) is unavailable"
            )
        return [row.event_timestamp if (row := rows.get(e)) else None for e in entity_ids]

    async def load_predictions(entity_ids: Sequence[str]) -> list[EntityPrediction]:
        budget.spend(len(entity_ids))  # before scoring: an over-budget request costs nothing
        return await state.predictor.predict_entities(list(entity_ids))

    async def load_models(versions: Sequence[int]) -> list[ModelRecord | None]:
        async with pool.connection(timeout=timeout_s) as conn:
            found = await models_by_version_async(conn, versions)
        return [found.get(version) for version in versions]

    async def load_champion(keys: Sequence[None]) -> list[Champion | None]:
        async with pool.connection(timeout=timeout_s) as conn:
            champion = await current_champion_async(conn)
        return [champion for _ in keys]

    return Loaders(
        latest_features=DataLoader(load_fn=load_latest),
        features_as_of=DataLoader(load_fn=load_as_of),
        latest_event_timestamps=DataLoader(load_fn=load_timestamps),
        predictions=DataLoader(load_fn=load_predictions),
        models=DataLoader(load_fn=load_models),
        champion=DataLoader(load_fn=load_champion),
    )

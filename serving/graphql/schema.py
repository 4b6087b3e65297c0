"""The GraphQL schema: entities with their latest features and prediction, and the champion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.fastapi import BaseContext
from strawberry.scalars import JSON
from strawberry.types import Info

from serving.config import ServingSettings
from serving.graphql.limits import MaskInternalErrors, RequestLimitError
from serving.graphql.loaders import Loaders
from serving.state import ServingState
from shared.schemas import MAX_ENTITIES_PER_REQUEST


class Context(BaseContext):
    """What resolvers see: the serving state and this request's loaders."""

    def __init__(self, state: ServingState, loaders: Loaders) -> None:
        super().__init__()
        self.state = state
        self.loaders = loaders


@strawberry.type
class FeatureRowType:
    """An entity's newest feature-store row."""

    entity_id: str
    event_timestamp: datetime
    dynamic_features: JSON


@strawberry.type
class PredictionType:
    """The champion's prediction for an entity and where its features came from."""

    entity_id: str
    model_version: int
    source: str
    degraded: bool
    output: JSON

    @strawberry.field
    def entity(self) -> EntityType:
        """The entity scored (lets a client navigate back)."""
        return EntityType(entity_id=self.entity_id)


@strawberry.type
class EntityType:
    """An entity: its latest features and the champion's prediction."""

    entity_id: str

    @strawberry.field
    async def features(self, info: Info[Context, None]) -> FeatureRowType | None:
        """The newest feature row, or null when the entity has none."""
        row = await info.context.loaders.features.load(self.entity_id)
        if row is None:
            return None
        return FeatureRowType(
            entity_id=row.entity_id,
            event_timestamp=row.event_timestamp,
            dynamic_features=JSON(row.dynamic_features),
        )

    @strawberry.field
    async def prediction(self, info: Info[Context, None]) -> PredictionType:
        """The champion's prediction (features: cache, else feature store, else default)."""
        result = await info.context.loaders.predictions.load(self.entity_id)
        return PredictionType(
            entity_id=self.entity_id,
            model_version=result.model_version,
            source=result.source.value,
            degraded=result.degraded,
            output=JSON(result.prediction),
        )


@strawberry.type
class ChampionType:
    """The model being served."""

    model_version: int
    h2o_version: str
    algo: str
    artifact_sha256: str


@strawberry.type
class Query:
    """Read-only access to features, predictions and the champion."""

    @strawberry.field
    def entity(self, entity_id: str) -> EntityType:
        """One entity."""
        return EntityType(entity_id=entity_id)

    @strawberry.field
    def entities(self, entity_ids: list[str]) -> list[EntityType]:
        """Many entities (at most 1000, as over REST); features, predictions in a batch each."""
        if len(entity_ids) > MAX_ENTITIES_PER_REQUEST:
            raise RequestLimitError(
                f"entities: at most {MAX_ENTITIES_PER_REQUEST} ids, given {len(entity_ids)}"
            )
        return [EntityType(entity_id=entity_id) for entity_id in entity_ids]

    @strawberry.field
    def champion(self, info: Info[Context, None]) -> ChampionType | None:
        """The champion being served, or null when none is loaded."""
        model = info.context.state.holder.current
        if model is None:
            return None
        return ChampionType(
            model_version=model.model_version,
            h2o_version=model.h2o_version,
            algo=model.algo,
            artifact_sha256=model.artifact_sha256,
        )


def build_schema(cfg: ServingSettings) -> strawberry.Schema:
    """The schema with the request bounds of `cfg`, masked internal errors, introspection off."""
    # Factories: each request gets its own extension instances.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=cfg.graphql_max_tokens),
        lambda: QueryDepthLimiter(max_depth=cfg.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=cfg.graphql_max_aliases),
        MaskInternalErrors,
    ]
    if not cfg.graphql_ide:  # GraphiQL needs introspection; a production API does not
        extensions.append(DisableIntrospection)
    return strawberry.Schema(query=Query, extensions=extensions)

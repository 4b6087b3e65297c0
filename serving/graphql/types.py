"""The GraphQL object types: Entity, Features, Prediction, Model, Promotion (described fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from serving.features import ResolvedFeatures
from serving.graphql import described
from serving.graphql.context import Context
from serving.graphql.limits import ClientError
from shared.registry import ModelRecord, PromotionRecord

Ctx = Info[Context, None]


@strawberry.type(
    name="Features",
    description="An entity's feature row and where it came from (cache, db or the default).",
)
class FeaturesType:
    """An entity's feature row as served."""

    entity_id: str = strawberry.field(description="The entity the row belongs to.")
    event_timestamp: datetime | None = strawberry.field(
        description="When the row's facts happened (event time); null when served from the Redis "
        "cache (it keeps only the features) or the default vector."
    )
    dynamic_features: JSON = strawberry.field(
        description="The features, a JSON object of feature name to value."
    )
    source: str = strawberry.field(
        description="Where they came from: cache (Redis), db (PostgreSQL) or default (the "
        "configured default vector, when neither could answer or the entity has no row)."
    )
    degraded: bool = strawberry.field(
        description="True when these are the default vector rather than the entity's own."
    )

    @classmethod
    def of(
        cls, entity_id: str, resolved: ResolvedFeatures, event_timestamp: datetime | None
    ) -> FeaturesType:
        """The GraphQL view of resolved features."""
        return cls(
            entity_id=entity_id,
            event_timestamp=event_timestamp,
            dynamic_features=JSON(dict(resolved.features)),
            source=resolved.source.value,
            degraded=resolved.degraded,
        )


@strawberry.type(name="Model", description="A registered, immutable model version.")
class ModelType:
    """A registry row."""

    record: strawberry.Private[ModelRecord]

    @described.field("The model_version, the registry's id of this model.")
    def version(self) -> int:
        """model_version."""
        return self.record.model_version

    @described.field("The MOJO's algorithm (gbm, drf, glm, xgboost, ...).")
    def algo(self) -> str:
        """algo."""
        return self.record.algo

    @described.field("Evaluation metrics recorded at registration (JSON object).")
    def metrics(self) -> JSON:
        """metrics."""
        return JSON(dict(self.record.metrics))

    @described.field("How it was trained: the candidate config (JSON object).")
    def training_config(self) -> JSON:
        """training_config."""
        return JSON(dict(self.record.training_config))

    @described.field("Where the MOJO is stored (file:// or s3://, content-addressed).")
    def artifact_uri(self) -> str:
        """artifact_uri."""
        return self.record.artifact_uri

    @described.field("SHA-256 of the MOJO's bytes, checked whenever it is fetched.")
    def sha256(self) -> str:
        """artifact_sha256."""
        return self.record.artifact_sha256

    @described.field("The H2O-3 version that trained it.")
    def h2o_version(self) -> str:
        """h2o_version."""
        return self.record.h2o_version

    @described.field("The git commit of the code that trained it.")
    def git_commit(self) -> str:
        """git_commit_sha."""
        return self.record.git_commit_sha

    @described.field("When it was registered.")
    def created_at(self) -> datetime:
        """created_at."""
        return self.record.created_at

    @described.field("Who registered it: dagster, mage, cli, or unrecorded (older versions).")
    def orchestrator(self) -> str:
        """orchestrator."""
        return self.record.orchestrator

    @described.field("The feature names the model reads.")
    def feature_list(self) -> list[str]:
        """feature_list."""
        return list(self.record.feature_list)

    @described.field(
        "The leaderboard of the fan-out that produced it, as recorded in its "
        "training config (`leaderboard`); null when training did not record one."
    )
    def leaderboard(self) -> JSON | None:
        """training_config.leaderboard."""
        board = self.record.training_config.get("leaderboard")
        return None if board is None else JSON(board)

    @described.field("True when it is the registry's current champion.")
    async def is_champion(self, info: Ctx) -> bool:
        """Compared with the newest promotion (read once per request)."""
        champion = await info.context.loaders.champion.load(None)
        return champion is not None and champion.model.model_version == self.record.model_version

    @described.field("True when this serving process scores with it right now.")
    def serving(self, info: Ctx) -> bool:
        """The model held by this process (may lag a promotion by the swap, or be refused)."""
        current = info.context.state.holder.current
        return current is not None and current.model_version == self.record.model_version


async def load_model(info: Ctx, version: int | None) -> ModelType | None:
    """The Model of `version` through the request's loader (one statement per batch)."""
    if version is None:
        return None
    record = await info.context.loaders.models.load(version)
    return None if record is None else ModelType(record=record)


@strawberry.type(name="Prediction", description="The champion's prediction for an entity.")
class PredictionType:
    """One scored entity."""

    entity_id: str = strawberry.field(description="The entity scored.")
    model_version: int = strawberry.field(description="The model version that scored it.")
    source: str = strawberry.field(
        description="Where its features came from: cache, db or default."
    )
    degraded: bool = strawberry.field(
        description="True when it was scored on the default vector (features unavailable)."
    )
    output: JSON = strawberry.field(
        description="The prediction as h2o-genmodel's PredictCsv writes it, e.g. "
        "{predict, p0, p1} for a binomial model."
    )

    @described.field(
        "The P(class 1) cut-off that chose the label of a binomial model (`predict` is class 1 "
        "where p1 >= it; a stacked ensemble's is its metalearner's); null for other models."
    )
    def threshold(self, info: Ctx) -> float | None:
        """The served model's, read at load from its MOJO (null if it was swapped meanwhile)."""
        current = info.context.state.holder.current
        if current is None or current.model_version != self.model_version:
            return None
        return current.mojo.label_threshold

    @described.field("The model that scored it (registry row).")
    async def model(self, info: Ctx) -> ModelType | None:
        """Through the models loader."""
        return await load_model(info, self.model_version)

    @described.field("The entity scored (lets a client navigate back).")
    def entity(self) -> EntityType:
        """The entity."""
        return EntityType(entity_id=self.entity_id)


@strawberry.type(name="Entity", description="An entity of the feature store.")
class EntityType:
    """An entity id; its fields are read in batches by the request's loaders."""

    entity_id: str = strawberry.field(description="The entity's id (feature store entity_id).")

    @described.field(
        "Its features. Without asOf: the latest row through the same Redis cache, "
        "PostgreSQL and default fallback as predictions. With asOf: the newest row whose event "
        "time and ingestion time are both at or before asOf (a row ingested later, e.g. a "
        "backfill, is never visible, so the answer is reproducible), read from PostgreSQL; "
        "null when the entity had no row then."
    )
    async def features(
        self,
        info: Ctx,
        as_of: Annotated[
            datetime | None,
            strawberry.argument(
                description="An instant with a time zone (ISO 8601); omitted: the latest row."
            ),
        ] = None,
    ) -> FeaturesType | None:
        """Latest through FeatureLookup, or as of an instant through the PostgreSQL breaker."""
        loaders = info.context.loaders
        if as_of is None:
            resolved = await loaders.latest_features.load(self.entity_id)
            return FeaturesType.of(self.entity_id, resolved, None)
        if as_of.utcoffset() is None:
            raise ClientError("asOf must include a time zone, e.g. 2026-01-31T00:00:00Z")
        found = await loaders.features_as_of.load((self.entity_id, as_of))
        if found is None:
            return None
        return FeaturesType.of(self.entity_id, found.resolved, found.event_timestamp)

    @described.field(
        "The event time of its newest row in the feature store (PostgreSQL); null when it has none."
    )
    async def latest_event_timestamp(self, info: Ctx) -> datetime | None:
        """Through the PostgreSQL breaker, one statement per batch."""
        return await info.context.loaders.latest_event_timestamps.load(self.entity_id)

    @described.field(
        "The served champion's prediction (features: cache, else feature store, "
        "else the default vector, as POST /v1/predict)."
    )
    async def prediction(self, info: Ctx) -> PredictionType:
        """One scoring batch per request."""
        result = await info.context.loaders.predictions.load(self.entity_id)
        return PredictionType(
            entity_id=self.entity_id,
            model_version=result.model_version,
            source=result.source.value,
            degraded=result.degraded,
            output=JSON(result.prediction),
        )


@strawberry.type(name="Promotion", description="A champion promotion (a rollback is one too).")
class PromotionType:
    """One row of the append-only promotion history."""

    record: strawberry.Private[PromotionRecord]

    @described.field("The promotion's id (increasing).")
    def promotion_id(self) -> int:
        """promotion_id."""
        return self.record.promotion_id

    @described.field("The model version that became champion.")
    def model_version(self) -> int:
        """model_version."""
        return self.record.model_version

    @described.field("When it became champion.")
    def promoted_at(self) -> datetime:
        """promoted_at."""
        return self.record.promoted_at

    @described.field("The database user that promoted it (recorded by PostgreSQL, not the client).")
    def actor(self) -> str:
        """actor."""
        return self.record.actor

    @described.field(
        "Why; a rollback says from which version, a GraphQL promotion names its token."
    )
    def reason(self) -> str:
        """reason."""
        return self.record.reason

    @described.field("The version that was champion before it (null: the first).")
    def previous_version(self) -> int | None:
        """previous_version."""
        return self.record.previous_version

    @described.field("The model that became champion.")
    async def model(self, info: Ctx) -> ModelType | None:
        """Through the models loader."""
        return await load_model(info, self.record.model_version)

    @described.field("The model that was champion before (null: the first).")
    async def previous(self, info: Ctx) -> ModelType | None:
        """Through the models loader."""
        return await load_model(info, self.record.previous_version)

"""The GraphQL schema: entities (features, predictions), the model registry, promotions.

`schema` is the schema with the environment's settings (for tools that read it, e.g.
scripts/validate_dataloader.py); the app builds its own with `build_schema(cfg)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from serving.config import ServingSettings, get_serving_settings
from serving.graphql import described
from serving.graphql.context import Context
from serving.graphql.limits import MaskInternalErrors, RequestLimitError
from serving.graphql.types import Ctx, EntityType, ModelType, PromotionType, load_model
from shared.registry import list_models_async, list_promotions_async
from shared.schemas import MAX_ENTITIES_PER_REQUEST

# Registry pages are small; a client wanting more narrows by algo.
MAX_PAGE = 100

EntityId = Annotated[str, strawberry.argument(description="The entity's id (entity_id).")]
Limit = Annotated[int, strawberry.argument(description=f"How many, newest first (1..{MAX_PAGE}).")]
Version = Annotated[int, strawberry.argument(description="A model_version of the registry.")]
Reason = Annotated[str, strawberry.argument(description="Why (recorded; must not be empty).")]

__all__ = ["Context", "build_schema", "schema"]


def _page(argument: str, limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise RequestLimitError(
            f"{argument}: limit must be between 1 and {MAX_PAGE}, given {limit}"
        )
    return limit


@strawberry.type(description="Read access to features, predictions, models and promotions.")
class Query:
    """The root of every read."""

    @described.field("One entity by its id.")
    def entity(self, entity_id: EntityId) -> EntityType:
        """One entity."""
        return EntityType(entity_id=entity_id)

    @described.field(
        f"Many entities (at most {MAX_ENTITIES_PER_REQUEST}, as over REST); each "
        "field is read in one batch for all of them."
    )
    def entities(
        self,
        entity_ids: Annotated[
            list[str], strawberry.argument(description="The entities' ids, in answer order.")
        ],
    ) -> list[EntityType]:
        """Many entities."""
        if len(entity_ids) > MAX_ENTITIES_PER_REQUEST:
            raise RequestLimitError(
                f"entities: at most {MAX_ENTITIES_PER_REQUEST} ids, given {len(entity_ids)}"
            )
        return [EntityType(entity_id=entity_id) for entity_id in entity_ids]

    @described.field(
        f"Registered models, newest first (limit 1..{MAX_PAGE}), of one algo if given."
    )
    async def models(
        self,
        info: Ctx,
        limit: Limit = 20,
        algo: Annotated[
            str | None, strawberry.argument(description="Only models of this algo (e.g. gbm).")
        ] = None,
    ) -> list[ModelType]:
        """A page of the registry."""
        state = info.context.state
        async with state.pool.connection(timeout=state.settings.db_timeout_s) as conn:
            records = await list_models_async(conn, limit=_page("models", limit), algo=algo)
        return [ModelType(record=record) for record in records]

    @described.field("One model by its version; null when none has it.")
    async def model(self, info: Ctx, version: Version) -> ModelType | None:
        """One registry row."""
        return await load_model(info, version)

    @described.field("The registry's current champion (newest promotion); null before any.")
    async def champion(self, info: Ctx) -> ModelType | None:
        """The newest promotion's model."""
        champion = await info.context.loaders.champion.load(None)
        return None if champion is None else ModelType(record=champion.model)

    @described.field(f"Promotions, newest first (limit 1..{MAX_PAGE}).")
    async def promotions(self, info: Ctx, limit: Limit = 20) -> list[PromotionType]:
        """A page of the promotion history."""
        state = info.context.state
        async with state.pool.connection(timeout=state.settings.db_timeout_s) as conn:
            records = await list_promotions_async(conn, limit=_page("promotions", limit))
        return [PromotionType(record=record) for record in records]


@strawberry.type(
    description="Model operations: need an admin bearer token (Authorization: Bearer ...) and "
    "run as the admin database role; without them nothing changes."
)
class Mutation:
    """Champion changes; serving swaps to the new champion on the registry's NOTIFY."""

    @described.mutation("Make a model version the champion (its artifact is verified first).")
    async def promote(self, info: Ctx, version: Version, reason: Reason) -> PromotionType:
        """As `converge registry promote`."""
        operations = info.context.operations
        caller = operations.caller(info.context.authorization)
        record = await operations.move_champion(caller, version, reason, is_rollback=False)
        return PromotionType(record=record)

    @described.mutation("Make an earlier champion the champion again.")
    async def rollback(self, info: Ctx, version: Version, reason: Reason) -> PromotionType:
        """As `converge registry rollback`."""
        operations = info.context.operations
        caller = operations.caller(info.context.authorization)
        record = await operations.move_champion(caller, version, reason, is_rollback=True)
        return PromotionType(record=record)


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
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)


schema = build_schema(get_serving_settings())

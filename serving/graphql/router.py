"""Mounts the GraphQL schema on FastAPI with a per-request context (fresh DataLoaders)."""

from __future__ import annotations

from strawberry.fastapi import GraphQLRouter

from serving.api.deps import StateDep
from serving.config import ServingSettings
from serving.graphql.limits import PredictionBudget
from serving.graphql.loaders import make_loaders
from serving.graphql.schema import Context, build_schema


def graphql_router(cfg: ServingSettings) -> GraphQLRouter[Context, None]:
    """The /graphql router: POST answers queries; GET serves GraphiQL only if a setting says so."""

    async def context(state: StateDep) -> Context:
        budget = PredictionBudget(cfg.graphql_max_predictions)
        return Context(state=state, loaders=make_loaders(state.pool, state.predictor, budget))

    return GraphQLRouter(
        build_schema(cfg),
        context_getter=context,
        graphql_ide="graphiql" if cfg.graphql_ide else None,
    )

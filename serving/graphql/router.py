"""Mounts the GraphQL schema on FastAPI with a per-request context (fresh DataLoaders)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter

from serving.api.deps import StateDep
from serving.config import ServingSettings
from serving.graphql.context import Context
from serving.graphql.ide import graphiql_page
from serving.graphql.limits import PredictionBudget
from serving.graphql.loaders import make_loaders
from serving.graphql.operations import ModelOperations
from serving.graphql.schema import build_schema
from shared.settings import Settings


class _LocalGraphiQLRouter(GraphQLRouter[Context, None]):
    """Strawberry's router with a GraphiQL page that loads its files from this app."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL with the example query (only reached when the IDE setting is on)."""
        return HTMLResponse(graphiql_page(request.scope.get("root_path", "")))


def graphql_router(cfg: ServingSettings, settings: Settings) -> GraphQLRouter[Context, None]:
    """The /graphql router: POST answers queries; GET serves GraphiQL only if a setting says so."""
    operations = ModelOperations.from_settings(cfg, settings)

    async def context(state: StateDep) -> Context:
        budget = PredictionBudget(cfg.graphql_max_predictions)
        return Context(state, make_loaders(state, budget), operations)

    return _LocalGraphiQLRouter(
        build_schema(cfg),
        context_getter=context,
        graphql_ide="graphiql" if cfg.graphql_ide else None,
    )

"""Mounts the GraphQL schema on FastAPI with a per-request context (fresh DataLoaders)."""

from __future__ import annotations

from strawberry.fastapi import GraphQLRouter

from serving.api.deps import StateDep
from serving.graphql.loaders import make_loaders
from serving.graphql.schema import Context, build_schema


async def _context(state: StateDep) -> Context:
    return Context(state=state, loaders=make_loaders(state.pool, state.predictor))


def graphql_router(max_depth: int) -> GraphQLRouter[Context, None]:
    """The /graphql router (GET serves GraphiQL, POST answers queries)."""
    return GraphQLRouter(build_schema(max_depth), context_getter=_context)

"""What every resolver of one GraphQL request sees."""

from __future__ import annotations

from strawberry.fastapi import BaseContext

from serving.graphql.loaders import Loaders
from serving.graphql.operations import ModelOperations
from serving.state import ServingState


class Context(BaseContext):
    """The serving state, this request's loaders and the model operations (promote, rollback)."""

    def __init__(self, state: ServingState, loaders: Loaders, operations: ModelOperations) -> None:
        super().__init__()
        self.state = state
        self.loaders = loaders
        self.operations = operations

    @property
    def authorization(self) -> str | None:
        """The request's Authorization header (None when absent)."""
        return self.request.headers.get("authorization") if self.request else None

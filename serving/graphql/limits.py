"""Bounds on one GraphQL request and what its errors may tell a client.

A query is refused before any work when it is too large to parse cheaply (tokens), fans out by
aliases, or lists more ids than REST accepts; predictions are a budget per request, checked before
the scoring batch runs. Errors raised by resolvers are masked: the client sees a generic message
with an id, the log keeps the cause under the same id. Refusals (`RequestLimitError`) and query
validation errors are the client's to read and pass unmasked (every `ClientError`).
"""

from __future__ import annotations

import logging
import uuid

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

log = logging.getLogger(__name__)


class ClientError(Exception):
    """An error the client caused or must know about; its message is shown as it is."""


class RequestLimitError(ClientError):
    """A request over one of the limits."""


def _is_internal(error: GraphQLError) -> bool:
    # Validation errors carry no original error; refusals are meant for the client.
    original = error.original_error
    return original is not None and not isinstance(original, ClientError)


class MaskInternalErrors(MaskErrors):
    """MaskErrors whose generic message carries an id that the log line of the cause also has."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_internal)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """Log the cause under a new id; give the client the id only."""
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "GraphQL error %s at %s: %r",
            error_id,
            ".".join(str(part) for part in error.path or ()),
            error.original_error,
            exc_info=error.original_error,
        )
        return GraphQLError(
            message=f"internal error (id {error_id})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
        )


class PredictionBudget:
    """How many entities one request may have scored; spent before each scoring batch."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, count: int) -> None:
        """Take `count` predictions, or refuse (RequestLimitError) past the limit."""
        if self.spent + count > self.limit:
            raise RequestLimitError(
                f"this request asks for more than {self.limit} predictions "
                "(CONVERGE_SERVING_GRAPHQL_MAX_PREDICTIONS); split it"
            )
        self.spent += count

"""Promote and roll back over GraphQL: an admin bearer token, then the admin database role.

Serving's own database user (converge_serving) has no write right, so a model operation opens a
connection of its own as CONVERGE_ADMIN_DATABASE_URL's user (converge_admin), only for that
operation. Both a token hash and that URL must be configured, else the operations answer that they
are not enabled. The promotion runs the CLI's path (artifact verified, registry promote/rollback):
`promote_model()` records the database user as the actor, and the reason names the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from serving.config import ServingSettings
from serving.graphql.limits import ClientError
from shared.champion_artifact import ArtifactRefusedError, verify_promotable
from shared.db import connect
from shared.registry import (
    Champion,
    PromotionRecord,
    RegistryError,
    get_model,
    promote,
    rollback,
)
from shared.settings import Settings
from shared.versions import pinned_versions

_PREVIOUS_CHAMPION = (
    "SELECT model_version FROM model_promotions WHERE promotion_id < %s "
    "ORDER BY promotion_id DESC LIMIT 1"
)


class ModelOperationError(ClientError):
    """A promote or rollback that was refused; nothing was changed."""


@dataclass(frozen=True)
class ModelOperations:
    """Checks admin bearer tokens and runs promotions as the admin database role."""

    token_hashes: Mapping[str, str]
    admin_database_url: str | None
    artifact_store_uri: str

    @classmethod
    def from_settings(cls, cfg: ServingSettings, settings: Settings) -> ModelOperations:
        """The operations as configured (disabled unless tokens and the admin URL are set)."""
        return cls(
            cfg.graphql_admin_tokens,
            settings.converge_admin_database_url,
            settings.resolved_artifact_store_uri,
        )

    def caller(self, authorization: str | None) -> str:
        """The name of the admin token in `authorization` ("Bearer ..."), or refuse."""
        if not self.token_hashes or self.admin_database_url is None:
            raise ModelOperationError(
                "model operations are not enabled on this deployment (they need "
                "CONVERGE_SERVING_GRAPHQL_ADMIN_TOKENS and CONVERGE_ADMIN_DATABASE_URL)"
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ModelOperationError(
                "model operations need an admin credential: Authorization: Bearer <token>"
            )
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        # Every hash is compared, in constant time, so timing tells nothing about which matched.
        matches = [n for n, h in self.token_hashes.items() if hmac.compare_digest(digest, h)]
        if not matches:
            raise ModelOperationError("the bearer token is not an admin token; nothing changed")
        return matches[0]

    async def move_champion(
        self, caller: str, version: int, reason: str, *, is_rollback: bool
    ) -> PromotionRecord:
        """Promote (or roll back to) `version` as the admin role; refusals change nothing."""
        if not reason.strip():
            raise ModelOperationError("reason: a promotion needs a non-empty reason")
        recorded = f"{reason} (GraphQL, admin token {caller!r})"
        return await asyncio.to_thread(self._move_blocking, version, recorded, is_rollback)

    def _move_blocking(self, version: int, reason: str, is_rollback: bool) -> PromotionRecord:
        assert self.admin_database_url is not None  # checked by `caller`
        try:
            with connect(self.admin_database_url) as conn:
                verify_promotable(
                    get_model(conn, version), self.artifact_store_uri, pinned_versions().h2o_version
                )
                action = rollback if is_rollback else promote
                champion = action(conn, version, reason)
                return _record(champion, _previous(conn, champion.promotion_id))
        except (RegistryError, ArtifactRefusedError) as exc:
            raise ModelOperationError(f"{exc}; nothing changed") from exc


def _previous(conn: psycopg.Connection[Any], promotion_id: int) -> int | None:
    row = conn.execute(_PREVIOUS_CHAMPION, (promotion_id,)).fetchone()
    return None if row is None else int(row[0])


def _record(champion: Champion, previous_version: int | None) -> PromotionRecord:
    return PromotionRecord(
        promotion_id=champion.promotion_id,
        model_version=champion.model.model_version,
        reason=champion.reason,
        promoted_at=champion.promoted_at,
        actor=champion.actor,
        previous_version=previous_version,
    )

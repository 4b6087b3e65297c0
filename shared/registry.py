"""The model registry: immutable model versions and an append-only history of champion promotions.

The database enforces immutability (triggers reject UPDATE, DELETE and TRUNCATE); the current
champion is the newest promotion, so a rollback is a new promotion of an earlier champion. Every
promotion sends a NOTIFY on `CHAMPION_CHANNEL` with the model_version, which serving listens to.
The SQL lives once here and is shared by the sync (training, CLI) and async (serving) paths.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from shared.versions import REPOSITORY_ROOT, pinned_versions

logger = logging.getLogger(__name__)

CHAMPION_CHANNEL = "converge_champion"
GIT_COMMIT_ENV = "CONVERGE_GIT_COMMIT"

# Serialises promotions so that "is it already the champion?" and the insert see the same state.
_PROMOTION_LOCK_KEY = 0x636F6E7665726765  # "converge"

_MODEL_COLUMNS = (
    "model_version, artifact_uri, artifact_sha256, git_commit_sha, h2o_version, algo, metrics, "
    "training_config, feature_list, orchestrator, created_at"
)
INSERT_MODEL = (
    "INSERT INTO model_registry (artifact_uri, artifact_sha256, git_commit_sha, h2o_version, algo, "
    "metrics, training_config, feature_list, orchestrator) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    f"ON CONFLICT (artifact_sha256) DO NOTHING RETURNING {_MODEL_COLUMNS}"
)
SELECT_MODEL_BY_SHA = "SELECT model_version FROM model_registry WHERE artifact_sha256 = %s"
SELECT_MODEL = f"SELECT {_MODEL_COLUMNS} FROM model_registry WHERE model_version = %s"
SELECT_MODELS = f"SELECT {_MODEL_COLUMNS} FROM model_registry ORDER BY model_version"
SELECT_CHAMPION = (
    f"SELECT {_MODEL_COLUMNS}, promotion_id, reason, promoted_at, actor FROM current_champion"
)
SELECT_PROMOTIONS = (
    f"SELECT {', '.join('r.' + c.strip() for c in _MODEL_COLUMNS.split(','))}, "
    "p.promotion_id, p.reason, p.promoted_at, p.actor "
    "FROM model_promotions p JOIN model_registry r USING (model_version) "
    "ORDER BY p.promotion_id DESC"
)
# The audited function records the session user as the actor; only converge_admin may call it.
INSERT_PROMOTION = "SELECT promotion_id, reason, promoted_at, actor FROM promote_model(%s, %s)"
LOCK_PROMOTIONS = "SELECT pg_advisory_xact_lock(%s)"

NonEmpty = Annotated[str, Field(min_length=1)]
# Who registered a version: the Dagster assets, the Mage pipeline or `converge registry register`.
Orchestrator = Literal["dagster", "mage", "cli"]


class RegistryError(Exception):
    """A registry operation was refused; the message says why."""


class ModelNotFoundError(RegistryError, LookupError):
    """No model has that model_version."""


class DuplicateArtifactError(RegistryError):
    """The artifact is registered already (one model version per artifact sha256)."""

    def __init__(self, sha256: str, model_version: int) -> None:
        super().__init__(
            f"artifact sha256 {sha256} is registered already as model_version {model_version}"
        )
        self.model_version = model_version


class H2OVersionMismatchError(RegistryError):
    """The model was trained with another H2O version than versions.env pins."""


class NewModel(BaseModel):
    """A trained model to register: where its MOJO is and how it was made."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    artifact_uri: Annotated[str, Field(pattern=r"^(file|s3)://.+")]
    artifact_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    git_commit_sha: NonEmpty
    h2o_version: NonEmpty
    algo: NonEmpty
    metrics: dict[str, JsonValue]
    training_config: dict[str, JsonValue]
    feature_list: Annotated[list[NonEmpty], Field(min_length=1)]
    orchestrator: Orchestrator

    @field_validator("metrics", "training_config")
    @classmethod
    def _finite(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        # JSONB has no NaN or infinity; a failed metric must be absent, not a fake number.
        _reject_non_finite(value, "")
        return value

    @field_validator("feature_list")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate features: {', '.join(duplicates)}")
        return value


def _reject_non_finite(value: JsonValue, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'value'} is {value}, which JSON cannot store")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_non_finite(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_non_finite(item, f"{path}[{index}]")


@dataclass(frozen=True)
class ModelRecord:
    """A registered model version, as stored, plus whether it matches the pinned H2O version."""

    model_version: int
    artifact_uri: str
    artifact_sha256: str
    git_commit_sha: str
    h2o_version: str
    algo: str
    metrics: Mapping[str, Any]
    training_config: Mapping[str, Any]
    feature_list: tuple[str, ...]
    orchestrator: str  # an Orchestrator, or "unrecorded" for versions older than the column
    created_at: datetime
    h2o_version_matches: bool


@dataclass(frozen=True)
class Champion:
    """A promotion: the model that became champion, why, when and who promoted it."""

    model: ModelRecord
    promotion_id: int
    reason: str
    promoted_at: datetime
    actor: str


def _model(row: Mapping[str, Any], pinned_h2o: str) -> ModelRecord:
    return ModelRecord(
        model_version=row["model_version"],
        artifact_uri=row["artifact_uri"],
        artifact_sha256=row["artifact_sha256"],
        git_commit_sha=row["git_commit_sha"],
        h2o_version=row["h2o_version"],
        algo=row["algo"],
        metrics=row["metrics"],
        training_config=row["training_config"],
        feature_list=tuple(row["feature_list"]),
        orchestrator=row["orchestrator"],
        created_at=row["created_at"],
        h2o_version_matches=row["h2o_version"] == pinned_h2o,
    )


def _champion(row: Mapping[str, Any], pinned_h2o: str) -> Champion:
    return Champion(
        model=_model(row, pinned_h2o),
        promotion_id=row["promotion_id"],
        reason=row["reason"],
        promoted_at=row["promoted_at"],
        actor=row["actor"],
    )


def register_model(conn: psycopg.Connection[Any], new: NewModel) -> ModelRecord:
    """Insert a new immutable model version; a mismatching h2o_version is stored but flagged.

    One version per artifact: registering a stored sha256 again raises DuplicateArtifactError.
    """
    params = (
        new.artifact_uri,
        new.artifact_sha256,
        new.git_commit_sha,
        new.h2o_version,
        new.algo,
        Jsonb(new.metrics),
        Jsonb(new.training_config),
        Jsonb(new.feature_list),
        new.orchestrator,
    )
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(INSERT_MODEL, params).fetchone()
        if row is None:  # the UNIQUE artifact_sha256 conflict: say which version holds it
            existing = conn.execute(SELECT_MODEL_BY_SHA, (new.artifact_sha256,)).fetchone()
            assert existing is not None
            raise DuplicateArtifactError(new.artifact_sha256, existing[0])
    record = _model(row, pinned_versions().h2o_version)
    if not record.h2o_version_matches:
        logger.warning(
            "registered model_version %s trained with h2o %s, but versions.env pins %s: "
            "it cannot be promoted without allow_version_mismatch",
            record.model_version,
            record.h2o_version,
            pinned_versions().h2o_version,
        )
    return record


def get_model(conn: psycopg.Connection[Any], model_version: int) -> ModelRecord:
    """The model with this model_version, or ModelNotFoundError."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SELECT_MODEL, (model_version,)).fetchone()
    if row is None:
        raise ModelNotFoundError(f"no model with model_version {model_version}")
    return _model(row, pinned_versions().h2o_version)


def list_models(conn: psycopg.Connection[Any]) -> list[ModelRecord]:
    """Every registered model, oldest first."""
    pinned_h2o = pinned_versions().h2o_version
    with conn.cursor(row_factory=dict_row) as cur:
        return [_model(row, pinned_h2o) for row in cur.execute(SELECT_MODELS)]


def promotion_history(conn: psycopg.Connection[Any]) -> list[Champion]:
    """Every promotion, newest first (the first one is the current champion)."""
    pinned_h2o = pinned_versions().h2o_version
    with conn.cursor(row_factory=dict_row) as cur:
        return [_champion(row, pinned_h2o) for row in cur.execute(SELECT_PROMOTIONS)]


async def promotion_history_async(aconn: psycopg.AsyncConnection[Any]) -> list[Champion]:
    """`promotion_history` on an async connection (serving), with the same SQL."""
    pinned_h2o = pinned_versions().h2o_version
    async with aconn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT_PROMOTIONS)
        return [_champion(row, pinned_h2o) for row in await cur.fetchall()]


def current_champion(conn: psycopg.Connection[Any]) -> Champion | None:
    """The newest promotion, or None when no model was ever promoted."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SELECT_CHAMPION).fetchone()
    return None if row is None else _champion(row, pinned_versions().h2o_version)


async def current_champion_async(aconn: psycopg.AsyncConnection[Any]) -> Champion | None:
    """`current_champion` on an async connection (serving), with the same SQL."""
    async with aconn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT_CHAMPION)
        row = await cur.fetchone()
    return None if row is None else _champion(row, pinned_versions().h2o_version)


def _insert_promotion(
    conn: psycopg.Connection[Any],
    model: ModelRecord,
    reason: str,
    allow_version_mismatch: bool,
) -> Champion:
    """Append a promotion of `model` (the caller holds the promotion lock)."""
    if not model.h2o_version_matches and not allow_version_mismatch:
        raise H2OVersionMismatchError(
            f"model_version {model.model_version} was trained with h2o {model.h2o_version}, "
            f"but versions.env pins {pinned_versions().h2o_version}; "
            "allow the mismatch (CLI: --allow-version-mismatch) to promote it anyway"
        )
    current = current_champion(conn)
    if current is not None and current.model.model_version == model.model_version:
        raise RegistryError(f"model_version {model.model_version} is already the champion")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(INSERT_PROMOTION, (model.model_version, reason)).fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    logger.info(
        "model_version %s promoted to champion by %s: %s", model.model_version, row["actor"], reason
    )
    return Champion(model, row["promotion_id"], row["reason"], row["promoted_at"], row["actor"])


def promote(
    conn: psycopg.Connection[Any],
    model_version: int,
    reason: str,
    *,
    allow_version_mismatch: bool = False,
) -> Champion:
    """Make `model_version` the champion (refused for a mismatching h2o_version unless allowed)."""
    return _promote_locked(conn, model_version, reason, allow_version_mismatch, is_rollback=False)


def rollback(
    conn: psycopg.Connection[Any],
    to_version: int,
    reason: str,
    *,
    allow_version_mismatch: bool = False,
) -> Champion:
    """Re-promote `to_version`, which must have been champion before, recording the reason."""
    return _promote_locked(conn, to_version, reason, allow_version_mismatch, is_rollback=True)


def _promote_locked(
    conn: psycopg.Connection[Any],
    model_version: int,
    reason: str,
    allow_version_mismatch: bool,
    *,
    is_rollback: bool,
) -> Champion:
    """Check and append a promotion while holding the promotion lock (one transaction)."""
    if not reason.strip():
        raise RegistryError("a promotion needs a non-empty reason")
    with conn.transaction():
        conn.execute(LOCK_PROMOTIONS, (_PROMOTION_LOCK_KEY,))
        model = get_model(conn, model_version)
        if is_rollback:
            reason = _rollback_reason(conn, model_version, reason)
        return _insert_promotion(conn, model, reason, allow_version_mismatch)


def _rollback_reason(conn: psycopg.Connection[Any], to_version: int, reason: str) -> str:
    """The recorded reason of a rollback, once it is checked to go back to an earlier champion."""
    history = promotion_history(conn)
    if not history:
        raise RegistryError("nothing to roll back: no model was ever promoted")
    if all(p.model.model_version != to_version for p in history):
        raise RegistryError(
            f"model_version {to_version} was never champion; promote it instead of rolling back"
        )
    return f"rollback from {history[0].model.model_version}: {reason}"


def current_git_commit() -> str:
    """The commit the code runs from: CONVERGE_GIT_COMMIT, else git (`+dirty` if modified)."""
    override = os.environ.get(GIT_COMMIT_ENV)
    if override:
        return override
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(
            f"cannot tell the git commit: not a git checkout at {REPOSITORY_ROOT} and "
            f"{GIT_COMMIT_ENV} is unset ({exc})"
        ) from exc
    return f"{head}+dirty" if status.strip() else head


# Read helpers of the GraphQL API (serving, async): pages of models and promotions, and models by
# version in one statement per DataLoader batch.
SELECT_MODELS_PAGE = (
    f"SELECT {_MODEL_COLUMNS} FROM model_registry "
    "WHERE (%(algo)s::text IS NULL OR algo = %(algo)s) "
    "ORDER BY model_version DESC LIMIT %(limit)s"
)
SELECT_MODELS_BY_VERSION = (
    f"SELECT {_MODEL_COLUMNS} FROM model_registry WHERE model_version = ANY(%s::bigint[])"
)
# `previous_version`: the champion this promotion replaced (the window sees every promotion).
SELECT_PROMOTIONS_PAGE = """
SELECT promotion_id, model_version, reason, promoted_at, actor, previous_version FROM (
    SELECT p.*, lag(p.model_version) OVER (ORDER BY p.promotion_id) AS previous_version
    FROM model_promotions p
) history ORDER BY promotion_id DESC LIMIT %s
"""


@dataclass(frozen=True)
class PromotionRecord:
    """One row of the promotion history and the champion it replaced (None: the first one)."""

    promotion_id: int
    model_version: int
    reason: str
    promoted_at: datetime
    actor: str
    previous_version: int | None


async def list_models_async(
    aconn: psycopg.AsyncConnection[Any], *, limit: int, algo: str | None = None
) -> list[ModelRecord]:
    """The newest `limit` models (of one `algo` when given), newest first."""
    pinned_h2o = pinned_versions().h2o_version
    async with aconn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT_MODELS_PAGE, {"algo": algo, "limit": limit})
        return [_model(row, pinned_h2o) for row in await cur.fetchall()]


async def models_by_version_async(
    aconn: psycopg.AsyncConnection[Any], versions: Sequence[int]
) -> dict[int, ModelRecord]:
    """The models with these versions, in one statement (unknown versions absent)."""
    pinned_h2o = pinned_versions().h2o_version
    async with aconn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT_MODELS_BY_VERSION, (list(versions),))
        rows = await cur.fetchall()
    return {row["model_version"]: _model(row, pinned_h2o) for row in rows}


async def list_promotions_async(
    aconn: psycopg.AsyncConnection[Any], *, limit: int
) -> list[PromotionRecord]:
    """The newest `limit` promotions, newest first, each with the champion it replaced."""
    async with aconn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT_PROMOTIONS_PAGE, (limit,))
        return [PromotionRecord(**row) for row in await cur.fetchall()]

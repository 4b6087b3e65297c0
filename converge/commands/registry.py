"""`converge registry ...`: inspect models, register your own MOJO, move the champion."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import click
import psycopg

from converge.cli import LazyGroup
from shared.champion_artifact import ArtifactRefusedError, verify_promotable
from shared.db import connect, database_url
from shared.registry import (
    Champion,
    ModelRecord,
    RegistryError,
    current_champion,
    get_model,
    list_models,
    promote,
    promotion_history,
    rollback,
)
from shared.settings import Component, get_settings
from shared.versions import VersionsFileError, pinned_versions


@contextmanager
def registry_connection(component: Component = "admin") -> Iterator[psycopg.Connection[Any]]:
    """A connection as `component`'s role whose refusals become CLI errors (exit 1, stderr)."""
    try:
        with connect(database_url(component=component)) as conn:
            yield conn
    except (RegistryError, VersionsFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ArtifactRefusedError as exc:
        hint = (
            " (--allow-version-mismatch to promote it anyway)"
            if exc.reason == "h2o_version"
            else ""
        )
        raise click.ClickException(f"{exc}{hint}; nothing was promoted") from exc
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach the converge database: {exc}") from exc


def _as_json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _version_flag(model: ModelRecord) -> str:
    return "" if model.h2o_version_matches else " (!= versions.env)"


def _model_line(model: ModelRecord, champion_version: int | None) -> str:
    marker = "*" if model.model_version == champion_version else " "
    metrics = ", ".join(f"{k}={v}" for k, v in sorted(model.metrics.items()) if _scalar(v))
    return (
        f"{marker} {model.model_version:>5}  {model.algo:<16} {model.orchestrator:<10} "
        f"h2o {model.h2o_version}{_version_flag(model)}  "
        f"{model.created_at:%Y-%m-%d %H:%M:%S%z}  {metrics}"
    )


def _scalar(value: object) -> bool:
    return isinstance(value, int | float | str | bool)


def _champion_text(champion: Champion) -> str:
    model = champion.model
    return (
        f"champion: model_version {model.model_version} ({model.algo}, "
        f"h2o {model.h2o_version}{_version_flag(model)}, by {model.orchestrator})\n"
        f"artifact: {model.artifact_uri} sha256 {model.artifact_sha256}\n"
        f"promoted: {champion.promoted_at:%Y-%m-%d %H:%M:%S%z} by {champion.actor} "
        f"(promotion {champion.promotion_id}): {champion.reason}"
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
reason_option = click.option("--reason", required=True, help="Why (kept in the history).")
mismatch_option = click.option(
    "--allow-version-mismatch",
    is_flag=True,
    help="Accept a model trained with another H2O version than versions.env pins.",
)


@click.group(cls=LazyGroup, lazy={"register": "converge.commands.register:registry_register"})
def registry() -> None:
    """Inspect the model registry and choose the champion."""


@registry.command("list")
@json_option
def registry_list(as_json: bool) -> None:
    """List every model version; `*` marks the champion."""
    with registry_connection() as conn:
        models = list_models(conn)
        champion = current_champion(conn)
    champion_version = champion.model.model_version if champion else None
    if as_json:
        click.echo(_as_json([asdict(m) for m in models]))
    elif not models:
        click.echo("no models registered")
    else:
        for model in models:
            click.echo(_model_line(model, champion_version))


@registry.command("show")
@click.argument("model_version", type=click.IntRange(min=1))
def registry_show(model_version: int) -> None:
    """Print everything recorded about one model version."""
    with registry_connection() as conn:
        click.echo(_as_json(asdict(get_model(conn, model_version))))


@registry.command("champion")
@json_option
def registry_champion(as_json: bool) -> None:
    """Print the current champion (exit 1 when none was promoted)."""
    with registry_connection() as conn:
        champion = current_champion(conn)
    if champion is None:
        raise click.ClickException("no champion: no model was ever promoted")
    click.echo(_as_json(asdict(champion)) if as_json else _champion_text(champion))


@registry.command("history")
def registry_history() -> None:
    """Print every promotion, newest first."""
    with registry_connection() as conn:
        history = promotion_history(conn)
    if not history:
        click.echo("no promotions yet")
    for entry in history:
        click.echo(
            f"{entry.promotion_id:>5}  {entry.promoted_at:%Y-%m-%d %H:%M:%S%z}  "
            f"model_version {entry.model.model_version} by {entry.actor}: {entry.reason}"
        )


def _move_champion(
    model_version: int,
    allow_version_mismatch: bool,
    action: Callable[[psycopg.Connection[Any]], Champion],
) -> None:
    """Verify the artifact serving would load (exists, sha256, loads), then move the champion."""
    with registry_connection() as conn:
        expected = None if allow_version_mismatch else pinned_versions().h2o_version
        store = get_settings().resolved_artifact_store_uri
        verify_promotable(get_model(conn, model_version), store, expected)
        champion = action(conn)
    click.echo(_champion_text(champion))


@registry.command("promote")
@click.argument("model_version", type=click.IntRange(min=1))
@reason_option
@mismatch_option
def registry_promote(model_version: int, reason: str, allow_version_mismatch: bool) -> None:
    """Make MODEL_VERSION the champion (serving swaps to it on the NOTIFY)."""
    _move_champion(
        model_version,
        allow_version_mismatch,
        lambda conn: promote(
            conn, model_version, reason, allow_version_mismatch=allow_version_mismatch
        ),
    )


@registry.command("rollback")
@click.argument("model_version", type=click.IntRange(min=1))
@reason_option
@mismatch_option
def registry_rollback(model_version: int, reason: str, allow_version_mismatch: bool) -> None:
    """Make an earlier champion MODEL_VERSION the champion again."""
    _move_champion(
        model_version,
        allow_version_mismatch,
        lambda conn: rollback(
            conn, model_version, reason, allow_version_mismatch=allow_version_mismatch
        ),
    )

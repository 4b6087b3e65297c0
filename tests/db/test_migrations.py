"""`converge db upgrade` builds the schema on an empty database and is idempotent."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from click.testing import CliRunner

from converge.cli import cli
from shared.db.migrate import current_revision, head_revision, upgrade

TABLES = {
    "feature_store",
    "feature_latest",
    "feature_definitions",
    "feature_drift_events",
    "ingest_quarantine",
    "model_registry",
    "model_promotions",
}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_upgrade_builds_the_schema_and_running_it_again_changes_nothing(
    empty_database_url: str,
) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    assert _tables(empty_database_url) >= TABLES
    with psycopg.connect(empty_database_url) as conn:
        conn.execute(
            "INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features) "
            "VALUES ('e1', now(), '{\"k\": 1}')"
        )
    upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM feature_store").fetchone() == (1,)


def test_cli_reports_the_upgrade_then_that_nothing_was_left(
    empty_database_url: str, settings_env: Callable[..., None]
) -> None:
    settings_env(DATABASE_URL=empty_database_url)
    first = CliRunner().invoke(cli, ["db", "upgrade"])
    second = CliRunner().invoke(cli, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"upgraded from empty to {head_revision()}" in first.output
    assert second.exit_code == 0, second.output
    assert f"already at revision {head_revision()}" in second.output


def test_cli_names_an_unreachable_database(settings_env: Callable[..., None]) -> None:
    settings_env(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "cannot reach the converge database" in result.output
    assert "127.0.0.1" in result.output

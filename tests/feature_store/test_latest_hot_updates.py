"""Migration 0005: the latest-row trigger's updates stay on their page (HOT), no index entry."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command

from shared.db.migrate import alembic_config, upgrade

ENTITIES = 400
# Two batches of one row per entity, the second newer: every latest row is updated once.
BATCH = """
INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features)
SELECT 'e' || n, %s::timestamptz, jsonb_build_object('pad', repeat('x', 300), 'n', n)
FROM generate_series(1, %s) AS n
"""
HOT_UPDATES = (
    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'feature_latest'"
)


def _latest_updates(url: str) -> tuple[int, int]:
    """(updates, HOT updates) of feature_latest when a newer batch follows a first one."""
    with psycopg.connect(url) as conn:
        conn.execute(BATCH, ("2024-01-01T00:00:00Z", ENTITIES))
        conn.commit()
        conn.execute(BATCH, ("2024-01-02T00:00:00Z", ENTITIES))
        row = conn.execute(HOT_UPDATES).fetchone()
        assert row is not None
        conn.rollback()
    return int(row[0]), int(row[1])


def test_latest_updates_are_heap_only_after_0005(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0004")
    updates, hot = _latest_updates(empty_database_url)
    # Full pages: the new versions go to other pages (the last page has some room).
    assert updates == ENTITIES
    assert hot < ENTITIES / 2

    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE feature_store, feature_latest")
    upgrade(empty_database_url)
    updates, hot = _latest_updates(empty_database_url)
    assert updates == ENTITIES
    assert hot == pytest.approx(ENTITIES, rel=0.05)

    command.downgrade(alembic_config(empty_database_url), "0004")
    with psycopg.connect(empty_database_url) as conn:
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'feature_latest'"
        ).fetchone()
    assert options == (None,)

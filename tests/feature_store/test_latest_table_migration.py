"""Migration 0002: feature_latest documents become json text, keeping rows; it reverses cleanly."""

from __future__ import annotations

import psycopg
from alembic import command

from shared.db.migrate import alembic_config, upgrade

INSERT = (
    "INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features) VALUES (%s, %s, %s)"
)
LATEST = "SELECT dynamic_features::text, pg_typeof(dynamic_features)::text FROM feature_latest"


def test_latest_documents_survive_0002_and_its_downgrade(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0001")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(INSERT, ("a", "2024-01-01T00:00:00Z", '{"x": 1}'))
    upgrade(empty_database_url)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert conn.execute(LATEST).fetchall() == [('{"x": 1}', "json")]
        conn.execute(INSERT, ("a", "2024-01-02T00:00:00Z", '{"y":  "two", "x": 2}'))
        # The trigger renders the text once, in jsonb's normal form.
        assert conn.execute(LATEST).fetchall() == [('{"x": 2, "y": "two"}', "json")]

    command.downgrade(alembic_config(empty_database_url), "0001")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(INSERT, ("a", "2024-01-03T00:00:00Z", '{"x": 3}'))
        assert conn.execute(LATEST).fetchall() == [('{"x": 3}', "jsonb")]

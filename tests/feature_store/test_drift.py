"""Drift on a real PostgreSQL: new keys, changed types and keys that stopped arriving."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg

from shared.feature_store import drift_events, ingest_file
from shared.feature_store.definitions import observe_keys
from shared.feature_store.validation import ValidRows

Writer = Callable[[str, str], Path]


def _kinds(conn: psycopg.Connection, since: datetime | None = None) -> list[tuple[str, str]]:
    return [(event.feature_key, event.kind) for event in drift_events(conn, since)]


def test_new_keys_are_recorded_once_and_queryable_without_ddl(
    conn: psycopg.Connection, write_csv: Writer
) -> None:
    first = ingest_file(
        conn, write_csv("1.csv", "id,ts,age\na,2024-01-01T00:00:00Z,3\n"), "id", "ts"
    )
    second = ingest_file(
        conn, write_csv("2.csv", "id,ts,age,tier\na,2024-01-02T00:00:00Z,4,gold\n"), "id", "ts"
    )

    # The first ingest ever defines the baseline; a key arriving later is drift.
    assert (first.baseline, first.drift) == (True, [])
    assert second.baseline is False
    assert [(e.feature_key, e.kind, e.detail["value_type"]) for e in second.drift] == [
        ("tier", "new_key", "string")
    ]
    found = conn.execute(
        "SELECT entity_id FROM feature_store WHERE dynamic_features @> %s::jsonb",
        ('{"tier": "gold"}',),
    ).fetchall()
    assert found == [("a",)]
    definitions = conn.execute(
        "SELECT feature_key, value_type, first_seen, last_seen FROM feature_definitions ORDER BY 1"
    ).fetchall()
    assert definitions == [
        ("age", "number", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)),
        ("tier", "string", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)),
    ]


def test_changed_type_is_reported_and_values_quarantined_not_coerced(
    conn: psycopg.Connection, write_csv: Writer
) -> None:
    ingest_file(conn, write_csv("1.csv", "id,ts,age\na,2024-01-01T00:00:00Z,3\n"), "id", "ts")
    text = "id,ts,age\nb,2024-01-02T00:00:00Z,young\nc,2024-01-02T00:00:00Z,old\n"
    summary = ingest_file(conn, write_csv("2.csv", text), "id", "ts")

    [event] = summary.drift
    assert (event.feature_key, event.kind) == ("age", "type_changed")
    assert event.detail == {"expected": "number", "found": "string", "rows": 2}
    assert summary.rows_quarantined == 2
    assert conn.execute("SELECT count(*) FROM feature_store").fetchone() == (1,)
    assert conn.execute("SELECT value_type FROM feature_definitions").fetchall() == [("number",)]


def test_digits_in_a_string_column_are_text_not_drift(
    conn: psycopg.Connection, write_csv: Writer
) -> None:
    ingest_file(conn, write_csv("1.csv", "id,ts,zip\na,2024-01-01T00:00:00Z,N1 9GU\n"), "id", "ts")
    summary = ingest_file(
        conn, write_csv("2.csv", "id,ts,zip\nb,2024-01-02T00:00:00Z,02134\n"), "id", "ts"
    )

    assert (summary.rows_written, summary.drift) == (1, [])
    row = conn.execute(
        "SELECT dynamic_features FROM feature_store WHERE entity_id = 'b'"
    ).fetchone()
    assert row == ({"zip": "02134"},)


def test_key_that_stopped_arriving_is_reported_once(
    conn: psycopg.Connection, write_csv: Writer
) -> None:
    ingest_file(
        conn, write_csv("1.csv", "id,ts,age,tier\na,2024-01-01T00:00:00Z,3,gold\n"), "id", "ts"
    )
    backfill = ingest_file(
        conn, write_csv("0.csv", "id,ts,age\na,2023-06-01T00:00:00Z,2\n"), "id", "ts"
    )
    later = ingest_file(
        conn, write_csv("2.csv", "id,ts,age\na,2024-02-01T00:00:00Z,4\n"), "id", "ts"
    )
    again = ingest_file(
        conn, write_csv("3.csv", "id,ts,age\na,2024-03-01T00:00:00Z,5\n"), "id", "ts"
    )

    # Older event times than tier's last_seen say nothing about tier having stopped.
    assert backfill.drift == []
    [event] = later.drift
    assert (event.feature_key, event.kind) == ("tier", "stopped_arriving")
    assert datetime.fromisoformat(event.detail["last_seen"]) == datetime(2024, 1, 1, tzinfo=UTC)
    assert again.drift == []
    assert _kinds(conn, since=event.detected_at) == [("tier", "stopped_arriving")]
    assert len(_kinds(conn)) == 1  # the first ingest (age, tier) is the baseline


def test_observed_span_covers_earliest_and_latest_row_of_each_key_in_any_order() -> None:
    days = [5, 2, 9, 1]
    rows = ValidRows(
        entity_ids=["a"] * 4,
        timestamps=[datetime(2024, 1, day, tzinfo=UTC) for day in days],
        present={
            "x": np.array([True, True, False, False]),
            "y": np.array([False, True, True, False]),
        },
    )
    seen = observe_keys(rows, {"x": "number", "y": "number"})

    spans = {key: (item.first_seen.day, item.last_seen.day) for key, item in seen.items()}
    assert spans == {"x": (2, 5), "y": (2, 9)}


def test_first_ingest_is_a_baseline_in_every_batch_and_later_keys_are_drift(
    conn: psycopg.Connection, write_csv: Writer
) -> None:
    # A key that first appears in the second batch of the first ingest is still baseline.
    text = "id,ts,age,tier\na,2024-01-01T00:00:00Z,3,\nb,2024-01-02T00:00:00Z,4,gold\n"
    first = ingest_file(conn, write_csv("1.csv", text), "id", "ts", batch_size=1)
    later = ingest_file(
        conn,
        write_csv("2.csv", "id,ts,age,tier,score\nc,2024-01-03T00:00:00Z,5,gold,0.5\n"),
        "id",
        "ts",
    )

    assert (first.baseline, first.drift) == (True, [])
    assert later.baseline is False
    assert [(e.feature_key, e.kind) for e in later.drift] == [("score", "new_key")]
    assert _kinds(conn) == [("score", "new_key")]
    keys = conn.execute("SELECT feature_key FROM feature_definitions ORDER BY 1").fetchall()
    assert keys == [("age",), ("score",), ("tier",)]


def test_a_type_change_within_the_first_ingest_is_still_drift(
    conn: psycopg.Connection, write_csv: Writer
) -> None:
    text = "id,ts,age\na,2024-01-01T00:00:00Z,3\nb,2024-01-02T00:00:00Z,old\n"
    summary = ingest_file(conn, write_csv("1.csv", text), "id", "ts", batch_size=1)

    assert summary.baseline is True
    assert [(e.feature_key, e.kind) for e in summary.drift] == [("age", "type_changed")]
    assert summary.rows_quarantined == 1

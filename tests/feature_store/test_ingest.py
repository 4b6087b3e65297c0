"""Ingest on a real PostgreSQL: good rows load, bad rows are quarantined with reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest

from shared.feature_store import IngestBatchError, ingest_file, ingest_frame, latest

BAD_ROWS = """
customer,ts,age,plan,active
c1,2024-01-01T00:00:00Z,30,gold,true
c2,2024-01-01T09:00:00+02:00,41,silver,false
c3,2024-01-02T00:00:00Z,abc,gold,true
,2024-01-02T00:00:00Z,25,gold,true
c4,yesterday,25,gold,true
c5,2024-01-03T00:00:00Z,27,gold,7
c6,2024-01-03 10:00:00,27,gold,true
c7,2024-01-03T00:00:00Z,,,
c8,2024-01-03T00:00:00Z,123456789012345678901234567890,gold,true
"""


def _quarantine(conn: psycopg.Connection) -> list[tuple[int, str | None, str, str, Any]]:
    query = (
        "SELECT source_row, entity_id, field, reason, raw_record FROM ingest_quarantine "
        "ORDER BY quarantine_id"
    )
    rows: list[tuple[int, str | None, str, str, Any]] = conn.execute(query).fetchall()
    return rows


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_load(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    path = write_csv("bad.csv", BAD_ROWS)
    summary = ingest_file(conn, path, "customer", "ts")

    assert (summary.rows_read, summary.rows_written, summary.rows_quarantined) == (9, 3, 6)
    stored = conn.execute(
        "SELECT entity_id, event_timestamp, dynamic_features FROM feature_store ORDER BY entity_id"
    ).fetchall()
    assert stored == [
        ("c1", datetime(2024, 1, 1, tzinfo=UTC), {"age": 30, "plan": "gold", "active": True}),
        ("c2", datetime(2024, 1, 1, 7, tzinfo=UTC), {"age": 41, "plan": "silver", "active": False}),
        # Blank cells are missing values: the keys are absent, not stored as "" or 0.
        ("c7", datetime(2024, 1, 3, tzinfo=UTC), {}),
    ]
    rejected = {(row, entity, field): reason for row, entity, field, reason, _ in _quarantine(conn)}
    assert rejected.keys() == {
        (3, "c3", "age"),
        (4, None, "customer"),
        (5, "c4", "ts"),
        (6, "c5", "active"),
        (7, "c6", "ts"),
        (9, "c8", "age"),
    }
    assert rejected[3, "c3", "age"] == "expected a number, got text 'abc'"
    assert rejected[4, None, "customer"] == "missing entity id"
    assert "unparseable timestamp 'yesterday'" in rejected[5, "c4", "ts"]
    assert rejected[6, "c5", "active"] == "expected a boolean, got text '7'"
    assert "has no time zone" in rejected[7, "c6", "ts"]
    assert "outside the 64-bit range" in rejected[9, "c8", "age"]
    raw = {row: record for row, _, _, _, record in _quarantine(conn)}
    assert raw[3] == {"customer": "c3", "ts": "2024-01-02T00:00:00Z", "age": "abc", "plan": "gold",
                      "active": "true"}  # fmt: skip


def test_reingesting_the_same_file_adds_no_duplicates(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    path = write_csv("bad.csv", BAD_ROWS)
    ingest_file(conn, path, "customer", "ts", batch_size=2)
    again = ingest_file(conn, path, "customer", "ts", batch_size=3)

    assert (again.rows_written, again.rows_duplicate, again.rows_quarantined) == (0, 3, 6)
    assert conn.execute("SELECT count(*) FROM feature_store").fetchone() == (3,)


def test_assume_timezone_accepts_naive_timestamps(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    path = write_csv("naive.csv", "id,ts,x\na,2024-03-01 12:00:00,1.5\n")
    summary = ingest_file(conn, path, "id", "ts", assume_timezone=UTC)

    assert summary.rows_written == 1
    assert latest(conn, ["a"])["a"].event_timestamp == datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_duplicate_keys_within_one_file_keep_the_first_row(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    text = "id,ts,x\na,2024-03-01T00:00:00Z,1\na,2024-03-01T01:00:00+01:00,2\n"
    summary = ingest_file(conn, write_csv("dup.csv", text), "id", "ts")

    assert (summary.rows_written, summary.rows_duplicate) == (1, 1)
    assert latest(conn, ["a"])["a"].dynamic_features == {"x": 1}


def test_typed_frame_keeps_types_and_rejects_other_types(conn: psycopg.Connection) -> None:
    frame = pd.DataFrame(
        {
            "id": [101, 102, 103, 104],
            "ts": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], utc=True
            ),
            "score": [0.5, float("nan"), 2.0, 3.0],
            "note": ["x", "y", 5, "z"],
            "flag": [True, False, True, None],
            "seen": pd.to_datetime(["2024-01-01"] * 4, utc=True),
        }
    )
    summary = ingest_frame(conn, frame.drop(columns="seen"), "id", "ts", source="frame")

    assert (summary.rows_written, summary.rows_quarantined) == (3, 1)
    rows = latest(conn, ["101", "102", "104"])
    assert rows["101"].dynamic_features == {"score": 0.5, "note": "x", "flag": True}
    assert rows["102"].dynamic_features == {"note": "y", "flag": False}
    [(row, entity, field, reason, _)] = _quarantine(conn)
    assert (row, entity, field, reason) == (3, "103", "note", "expected a string, got number '5'")

    later = frame.assign(ts=frame["ts"] + pd.Timedelta(days=30))
    result = ingest_frame(conn, later, "id", "ts", source="frame-with-datetimes")
    assert result.rows_written == 0
    reasons = {reason for *_, reason, _ in _quarantine(conn)[1:]}
    assert "unsupported value type Timestamp (features are numbers, strings or booleans)" in reasons


def test_nul_character_is_quarantined_not_a_failed_batch(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    path = write_csv(
        "nul.csv", "id,ts,s\na,2024-01-01T00:00:00Z,ok\nb,2024-01-01T00:00:00Z,x\x00y\n"
    )
    summary = ingest_file(conn, path, "id", "ts")

    assert (summary.rows_written, summary.rows_quarantined) == (1, 1)
    [(_, entity, field, reason, raw)] = _quarantine(conn)
    assert (entity, field) == ("b", "s")
    assert "NUL" in reason
    assert raw["s"] == "x\\x00y"


def test_parquet_file_is_ingested(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "features.parquet"
    pd.DataFrame(
        {
            "id": ["a", "b"],
            "ts": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]),
            "n": [1, 2],
            "s": ["p", None],
        }
    ).to_parquet(path)
    summary = ingest_file(conn, path, "id", "ts", batch_size=1)

    assert (summary.rows_read, summary.rows_written) == (2, 2)
    assert latest(conn, ["b"])["b"].dynamic_features == {"n": 2}


@pytest.mark.parametrize(
    ("name", "text", "entity", "message"),
    [
        ("a.csv", "id,ts,x\n", "customer", "entity column 'customer' is not in the source columns"),
        ("a.json", "{}", "id", "unsupported file type 'a.json'"),
    ],
)
def test_unusable_sources_are_refused_before_writing(
    conn: psycopg.Connection,
    write_csv: Callable[[str, str], Path],
    name: str,
    text: str,
    entity: str,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        ingest_file(conn, write_csv(name, text), entity, "ts")
    assert conn.execute("SELECT count(*) FROM ingest_quarantine").fetchone() == (0,)


def test_a_failing_batch_leaves_nothing_behind(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    # A real database failure inside the second batch, after its features were inserted: the
    # quarantine insert of source row 5 raises.
    conn.execute("""
        CREATE FUNCTION fail_row_5() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.source_row = 5 THEN RAISE EXCEPTION 'disk on fire'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_row_5 BEFORE INSERT ON ingest_quarantine
            FOR EACH ROW EXECUTE FUNCTION fail_row_5();
    """)
    path = write_csv(
        "fail.csv",
        """
        id,ts,x,later_key
        a,2024-01-01T00:00:00Z,1,
        b,2024-01-01T00:00:00Z,2,
        c,2024-01-02T00:00:00Z,3,
        d,2024-01-02T00:00:00Z,4,new
        e,2024-01-02T00:00:00Z,oops,new
        """,
    )
    with pytest.raises(IngestBatchError, match="batch starting at row 4 failed") as caught:
        ingest_file(conn, path, "id", "ts", batch_size=3)

    assert isinstance(caught.value.__cause__, psycopg.errors.RaiseException)
    assert "disk on fire" in str(caught.value)
    assert caught.value.summary.rows_written == 3

    committed = conn.execute("SELECT entity_id FROM feature_store ORDER BY 1").fetchall()
    assert committed == [("a",), ("b",), ("c",)]
    assert conn.execute("SELECT entity_id FROM feature_latest ORDER BY 1").fetchall() == committed
    keys = conn.execute("SELECT feature_key FROM feature_definitions").fetchall()
    assert keys == [("x",)]
    # The first ingest is the baseline: its keys (later_key of the rolled-back batch too) are no
    # drift.
    assert conn.execute("SELECT count(*) FROM feature_drift_events").fetchone() == (0,)
    assert _quarantine(conn) == []


def test_nullable_integer_columns_treat_na_as_missing(conn: psycopg.Connection) -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-01"], utc=True),
            "n": pd.array([7, None], dtype="Int64"),
        }
    )
    assert ingest_frame(conn, frame, "id", "ts", source="nullable").rows_written == 2
    rows = latest(conn, ["a", "b"])
    assert (rows["a"].dynamic_features, rows["b"].dynamic_features) == ({"n": 7}, {})


def test_csv_cells_are_read_by_the_rules_models_score_with(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    """PredictCsv's missing tokens are missing, and numbers are what Java's parseDouble reads."""
    text = (
        "customer,ts,age,plan\n"
        "c1,2024-01-01T00:00:00Z,NA,N/A\n"
        "c2,2024-01-01T00:00:00Z,-,gold\n"
        "c3,2024-01-01T00:00:00Z,1.5d,gold\n"
        "c4,2024-01-01T00:00:00Z,1_000,gold\n"
        "c5,2024-01-01T00:00:00Z,NaN,gold\n"
    )
    summary = ingest_file(conn, write_csv("tokens.csv", text), "customer", "ts")
    assert (summary.rows_written, summary.rows_quarantined) == (3, 2)
    stored = dict(conn.execute("SELECT entity_id, dynamic_features FROM feature_store").fetchall())
    assert stored == {"c1": {}, "c2": {"plan": "gold"}, "c3": {"age": 1.5, "plan": "gold"}}
    rejected = {entity: reason for _, entity, _, reason, _ in _quarantine(conn)}
    assert rejected == {
        "c4": "expected a number, got text '1_000'",
        "c5": "number NaN is out of range",
    }

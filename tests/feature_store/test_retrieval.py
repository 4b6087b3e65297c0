"""Retrieval on a real PostgreSQL: latest rows for serving, point-in-time rows for training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from shared.feature_store import (
    count_rows_ingested_since,
    features_as_of,
    features_as_of_frame,
    ingest_frame,
    latest,
    latest_async,
)


def day(n: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, n, hour, tzinfo=UTC)


@pytest.fixture
def history(conn: psycopg.Connection) -> psycopg.Connection:
    """Entity a has three versions of `x`, b one; c has none."""
    frame = pd.DataFrame(
        {
            "id": ["a", "a", "a", "b"],
            "ts": [day(1), day(5), day(10), day(3)],
            "x": [1, 5, 10, 3],
            "tag": ["first", None, "last", "only"],
        }
    )
    ingest_frame(conn, frame, "id", "ts", source="history")
    return conn


def test_latest_returns_the_newest_row_and_skips_unknown_entities(
    history: psycopg.Connection,
) -> None:
    rows = latest(history, ["a", "b", "c"])

    assert sorted(rows) == ["a", "b"]
    assert (rows["a"].event_timestamp, rows["a"].dynamic_features) == (
        day(10),
        {"x": 10, "tag": "last"},
    )
    assert latest(history, []) == {}


def test_backfilled_older_rows_do_not_replace_the_latest(history: psycopg.Connection) -> None:
    older = pd.DataFrame({"id": ["a"], "ts": [day(7)], "x": [7]})
    ingest_frame(history, older, "id", "ts", source="backfill")

    assert latest(history, ["a"])["a"].dynamic_features["x"] == 10
    assert [
        row.dynamic_features["x"] for row in features_as_of(history, ["a"], [day(8)]) if row
    ] == [7]


async def test_latest_async_matches_latest(database_url: str, history: psycopg.Connection) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as aconn:
        assert await latest_async(aconn, ["a", "b", "c"]) == latest(history, ["a", "b", "c"])


def test_a_feature_written_after_the_label_time_is_never_returned(
    history: psycopg.Connection,
) -> None:
    labels = [day(1), day(4, 23), day(5), day(9, 23), day(31), day(1) - timedelta(seconds=1)]
    rows = features_as_of(history, ["a"] * len(labels), labels)

    assert [row.dynamic_features["x"] if row else None for row in rows] == [1, 1, 5, 5, 10, None]
    for moment, row in zip(labels, rows, strict=True):
        assert row is None or row.event_timestamp <= moment


def test_features_as_of_frame_joins_one_column_per_key(history: psycopg.Connection) -> None:
    labels = pd.DataFrame(
        {"id": ["a", "b", "c", "a"], "at": [day(6), day(6), day(6), day(2)], "y": [1, 0, 1, 0]},
        index=[10, 11, 12, 13],
    )
    frame = features_as_of_frame(history, labels, "id", "at")

    assert list(frame.columns) == ["id", "at", "y", "tag", "x"]
    assert list(frame.index) == [10, 11, 12, 13]
    xs, tags = frame["x"].tolist(), frame["tag"].tolist()
    assert xs[:2] == [5, 3] and pd.isna(xs[2]) and xs[3] == 1
    assert pd.isna(tags[0]) and tags[1] == "only"


def test_point_in_time_inputs_are_checked(history: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="pass one timestamp per entity"):
        features_as_of(history, ["a", "b"], [day(1)])
    with pytest.raises(ValueError, match="time-zone aware"):
        features_as_of(history, ["a"], [datetime(2024, 1, 1)])
    naive = pd.DataFrame({"id": ["a"], "at": [datetime(2024, 1, 2)]})
    with pytest.raises(ValueError, match="'at' must hold time-zone aware timestamps"):
        features_as_of_frame(history, naive, "id", "at")
    clash = pd.DataFrame({"id": ["a"], "at": [day(2)], "x": [0]})
    with pytest.raises(ValueError, match=r"feature keys \['x'\] clash"):
        features_as_of_frame(history, clash, "id", "at")


def test_count_rows_ingested_since(history: psycopg.Connection) -> None:
    before = history.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    assert count_rows_ingested_since(history, before - timedelta(hours=1)) == 4
    ingest_frame(history, pd.DataFrame({"id": ["z"], "ts": [day(1)], "x": [1]}), "id", "ts", "new")
    assert count_rows_ingested_since(history, before) == 1

"""Bitemporal reads: an ingestion instant that a later read bounded by it reproduces exactly.

`settled_ingestion_instant` must not return while a batch is in flight (its rows would appear
later with an earlier ingestion time), and a batch that was waiting must write its rows after it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pandas as pd
import psycopg
import pytest

from shared.db import connect
from shared.feature_store import features_as_of, ingest_frame
from shared.feature_store.ingest import _LOCK, settled_ingestion_instant

EVENT = datetime(2024, 1, 1, tzinfo=UTC)
LABEL = datetime(2024, 2, 1, tzinfo=UTC)


def _rows(entity: str, value: float) -> pd.DataFrame:
    return pd.DataFrame({"id": [entity], "ts": [EVENT], "x": [value]})


def _visible(conn: psycopg.Connection, entity: str, bound: datetime) -> bool:
    [row] = features_as_of(conn, [entity], [LABEL], ingested_before=bound)
    return row is not None


def test_the_instant_waits_for_a_batch_in_flight(
    conn: psycopg.Connection, database_url: str
) -> None:
    instants: list[datetime] = []
    with connect(database_url) as batch:  # a batch holding the ingest lock, not committed yet
        batch.execute(_LOCK)
        batch.execute(
            "INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features) "
            "VALUES ('a', %s, '{\"x\": 1}')",
            (EVENT,),
        )
        reader = threading.Thread(target=lambda: instants.append(settled_ingestion_instant(conn)))
        reader.start()
        reader.join(timeout=1.0)
        assert reader.is_alive() and not instants  # blocked behind the uncommitted batch
        batch.commit()
    reader.join(timeout=10)
    [instant] = instants
    assert _visible(conn, "a", instant)


def test_a_batch_that_began_before_the_instant_but_wrote_after_it_is_not_visible(
    conn: psycopg.Connection, database_url: str
) -> None:
    with connect(database_url) as early:
        early.execute("SELECT 1")  # its transaction (and so its now()) starts before the instant
        instant = settled_ingestion_instant(conn)
        summary = ingest_frame(early, _rows("b", 2.0), "id", "ts", "began early")
        early.commit()

    assert summary.rows_written == 1
    assert not _visible(conn, "b", instant)
    assert _visible(conn, "b", datetime.now(UTC))


def test_rows_ingested_before_the_instant_are_visible_and_later_ones_not(
    conn: psycopg.Connection,
) -> None:
    ingest_frame(conn, _rows("c", 1.0), "id", "ts", "first")
    instant = settled_ingestion_instant(conn)
    ingest_frame(
        conn,
        pd.DataFrame({"id": ["c"], "ts": [EVENT.replace(day=2)], "x": [9.0]}),
        "id",
        "ts",
        "late backfill",
    )

    [bounded] = features_as_of(conn, ["c"], [LABEL], ingested_before=instant)
    [unbounded] = features_as_of(conn, ["c"], [LABEL])
    assert bounded is not None and bounded.dynamic_features == {"x": 1.0}
    assert unbounded is not None and unbounded.dynamic_features == {"x": 9.0}


def test_a_naive_ingestion_bound_is_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="ingested_before must be time-zone aware"):
        features_as_of(conn, ["a"], [LABEL], ingested_before=datetime(2024, 1, 1))

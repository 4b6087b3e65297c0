"""The GIN index's pending list merged on a second connection while an ingest writes.

Each check reads the pending list through `gin_clean_pending_list()` as the owner: the number of
pending pages it merges is what the ingest left unmerged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

import pandas as pd
import psycopg
import pytest

from shared.db.connection import with_database
from shared.feature_store import ingest_frame
from shared.feature_store.ingest import ingest_batches
from shared.feature_store.validation import SourceLayout

_MERGE_AS_OWNER = "SELECT gin_clean_pending_list('feature_store_dynamic_features_gin')"
_MATCHES = 'SELECT count(*) FROM feature_store WHERE dynamic_features @> \'{"plan": "p1"}\''


def _features(rows: int, first: int = 0) -> pd.DataFrame:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    index = range(first, first + rows)
    return pd.DataFrame(
        {
            "entity_id": [f"e{i % 500}" for i in index],
            "event_timestamp": [start + timedelta(minutes=i) for i in index],
            "plan": [f"p{i % 4}" for i in index],
            "score": [i / 7 for i in index],
            "orders": list(index),
        }
    )


def _pending_pages(conn: psycopg.Connection) -> int:
    row = conn.execute(_MERGE_AS_OWNER).fetchone()
    assert row is not None
    return int(row[0])


def test_an_ingest_leaves_the_pending_list_merged_and_the_index_answering(
    conn: psycopg.Connection, database_url: str
) -> None:
    second = partial(psycopg.connect, database_url)
    summary = ingest_frame(
        conn,
        _features(4000),
        "entity_id",
        "event_timestamp",
        "merged",
        batch_size=1000,
        second_connection=second,
    )

    assert summary.rows_written == 4000
    assert _pending_pages(conn) == 0
    conn.execute("SET enable_seqscan = off")  # answered by the index
    assert conn.execute(_MATCHES).fetchone() == (1000,)
    # Without the helper the rows' entries stay pending (the list is under its 4 MB limit).
    ingest_frame(conn, _features(4000, first=4000), "entity_id", "event_timestamp", "alone")
    assert _pending_pages(conn) > 0


def test_a_batch_is_written_only_once_the_last_batchs_entries_are_merged(
    conn: psycopg.Connection, database_url: str
) -> None:
    released = threading.Event()

    def connect_when_released() -> psycopg.Connection:
        released.wait(30)
        return psycopg.connect(database_url)

    committed: list[Sequence[str]] = []
    first_committed = threading.Event()

    def on_commit(entity_ids: Sequence[str]) -> None:
        committed.append(entity_ids)
        first_committed.set()

    layout = SourceLayout("entity_id", "event_timestamp", from_text=False, assume_timezone=None)
    batches = [_features(200, first) for first in (0, 200, 400)]
    ingest = threading.Thread(
        target=ingest_batches,
        args=(conn, batches, layout, "held"),
        kwargs={"on_commit": on_commit, "second_connection": connect_when_released},
    )
    ingest.start()
    try:
        assert first_committed.wait(30)  # the first batch has no batch before it to wait for
        time.sleep(1.0)  # time enough for the next batches, were they not waiting
        assert len(committed) == 1
    finally:
        released.set()
        ingest.join(30)
    assert len(committed) == 3
    assert _pending_pages(conn) == 0


def _unknown_database(url: str, conn: psycopg.Connection) -> Callable[[], psycopg.Connection]:
    return partial(psycopg.connect, with_database(url, "converge_no_such_database"))


def _function_dropped(url: str, conn: psycopg.Connection) -> Callable[[], psycopg.Connection]:
    conn.execute("DROP FUNCTION merge_feature_index_pending()")  # a database not upgraded
    return partial(psycopg.connect, url)


@pytest.mark.parametrize("broken", [_unknown_database, _function_dropped])
def test_a_failing_second_connection_leaves_the_ingest_merging_alone(
    conn: psycopg.Connection,
    database_url: str,
    broken: Callable[[str, psycopg.Connection], Callable[[], psycopg.Connection]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    second = broken(database_url, conn)
    summary = ingest_frame(
        conn,
        _features(3000),
        "entity_id",
        "event_timestamp",
        "alone",
        batch_size=1000,
        second_connection=second,
    )

    assert summary.rows_written == 3000
    assert "merged by the writing connection itself: the second connection failed" in caplog.text
    conn.execute("SET enable_seqscan = off")
    assert conn.execute(_MATCHES).fetchone() == (750,)

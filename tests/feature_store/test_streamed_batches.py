"""A batch is validated and written part by part: same outcome, sent early, bounded read-ahead."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import psycopg
import pytest

from shared.feature_store import ingest as ingest_module
from shared.feature_store.ingest import ingest_batches, ingest_frame
from shared.feature_store.validation import (
    SourceLayout,
    ValidatedBatch,
    ValidRows,
    screen_batch,
    validate_batch,
)
from shared.feature_store.writer import write_features

TEXT = SourceLayout("id", "ts", from_text=True)
TYPED = SourceLayout("id", "ts", from_text=False)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _text_frame(rows: int, first: int = 0) -> pd.DataFrame:
    """CSV-like text cells; every third `x` is not a number, every fifth row has no timestamp."""
    index = range(first, first + rows)
    return pd.DataFrame(
        {
            "id": [f"e{i}" for i in index],
            "ts": ["" if i % 5 == 4 else f"2024-01-{1 + i % 28:02d}T00:00:00Z" for i in index],
            "x": ["oops" if i % 3 == 2 else str(i / 4) for i in index],
            "label": [f"l{i % 4}" for i in index],
        },
        dtype="str",
    )


def _parts(frame: pd.DataFrame, size: int) -> list[ValidRows]:
    screened = screen_batch(frame, 1, TEXT, {})
    return [
        screened.validate_rows(start, min(start + size, len(frame))).rows
        for start in range(0, len(frame), size)
    ]


def test_parts_of_a_batch_add_up_to_the_whole_batch() -> None:
    frame = _text_frame(17)
    whole = validate_batch(frame, 1, TEXT, {})
    screened = screen_batch(frame, 1, TEXT, {})
    parts = [screened.validate_rows(start, min(start + 4, 17)) for start in range(0, 17, 4)]
    outcome = screened.outcome(parts)

    assert outcome.rows.lines.to_pylist() == whole.rows.lines.to_pylist()
    assert outcome.rows.entity_ids == whole.rows.entity_ids
    assert outcome.rows.timestamps == whole.rows.timestamps
    assert outcome.rows.present.keys() == whole.rows.present.keys()
    for key, present in whole.rows.present.items():
        assert outcome.rows.present[key].tolist() == present.tolist()
    # Source rows are numbered across parts.
    assert outcome.rejections == whole.rejections
    assert (outcome.types, outcome.changed_types) == (whole.types, whole.changed_types)


def test_types_are_settled_over_the_whole_batch_not_each_part() -> None:
    # Numbers in most rows: a part of text-only rows still reads `x` as a number column.
    frame = pd.DataFrame(
        {"id": list("abcde"), "ts": ["2024-01-01T00:00:00Z"] * 5, "x": ["1", "2", "3", "a", "b"]},
        dtype="str",
    )
    screened = screen_batch(frame, 1, TEXT, {})
    last = screened.validate_rows(3, 5)
    assert screened.types == {"x": "number"}
    assert [item.reason for item in last.rejections] == [
        "expected a number, got text 'a'",
        "expected a number, got text 'b'",
    ]


def test_the_first_part_is_sent_before_the_next_is_given(conn: psycopg.Connection) -> None:
    """PostgreSQL is storing the first part's rows while the writer waits for the second."""
    # Parts of over 8 kB: libpq sends what it holds in 8 kB pieces.
    first, second = _parts(_text_frame(400), 200)
    watcher = psycopg.connect(conn.info.dsn, autocommit=True)
    backend = conn.info.backend_pid
    stored_before_second: list[int] = []

    def parts() -> Iterator[ValidRows]:
        yield first
        deadline = time.monotonic() + 10
        processed = 0
        while processed == 0 and time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT tuples_processed FROM pg_stat_progress_copy WHERE pid = %s", (backend,)
            ).fetchone()
            processed = int(row[0]) if row else 0
            time.sleep(0.01)
        stored_before_second.append(processed)
        yield second

    with watcher, conn.transaction():
        written = write_features(conn, parts(), NOW)

    assert 0 < stored_before_second[0] <= len(first)
    assert written == len(first) + len(second)


def test_a_stored_row_in_a_later_part_keeps_every_other_row(conn: psycopg.Connection) -> None:
    first, second = _parts(_text_frame(40), 20)
    with conn.transaction():
        write_features(conn, [_row(second, 3)], NOW)
    with conn.transaction():
        # A list, as when the writer validated the batch again itself.
        written = write_features(conn, [first, second], NOW)
        staged = conn.execute("SELECT count(*) FROM converge_feature_staging").fetchone()

    assert written == len(first) + len(second) - 1
    assert staged == (len(first) + len(second),)  # each part staged once
    stored = conn.execute("SELECT count(*) FROM feature_store").fetchone()
    assert stored == (len(first) + len(second),)


def _row(rows: ValidRows, position: int) -> ValidRows:
    """One row of `rows`."""
    return ValidRows(
        rows.entity_ids[position : position + 1],
        rows.timestamps[position : position + 1],
        {key: present[position : position + 1] for key, present in rows.present.items()},
        rows.lines.slice(position, 1),
    )


def test_the_read_ahead_holds_at_most_one_batch_beyond_the_one_written(
    conn: psycopg.Connection,
) -> None:
    given = 0
    given_at_commit: list[int] = []

    def batches() -> Iterator[pd.DataFrame]:
        nonlocal given
        for number in range(6):
            given += 1
            yield _text_frame(5, first=5 * number)

    def committed(entity_ids: Sequence[str]) -> None:
        time.sleep(0.2)  # time for the read-ahead to run as far as it may
        given_at_commit.append(given)

    summary = ingest_batches(conn, batches(), TEXT, "bounded", on_commit=committed)

    assert summary.rows_read == 30
    # At the k-th commit: the batch after it read ahead, and the one after that started.
    assert all(count <= k + 2 for k, count in enumerate(given_at_commit, start=1))


def test_a_source_failing_after_a_batch_keeps_that_batch(conn: psycopg.Connection) -> None:
    def batches() -> Iterator[pd.DataFrame]:
        yield _text_frame(5)
        raise ValueError("the source broke")

    with pytest.raises(ValueError, match="the source broke"):
        ingest_batches(conn, batches(), TEXT, "broken")
    # The batch read before the failure (rows 3 and 5 rejected) is committed.
    assert conn.execute("SELECT count(*) FROM feature_store").fetchone() == (3,)
    assert not any(thread.name == "converge-ingest" for thread in threading.enumerate())


def test_the_read_ahead_takes_up_definitions_another_loader_changed(
    conn: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the writer finds other definitions, the batches read ahead follow them again."""
    validated_again = 0

    def counted(*args: Any, **kwargs: Any) -> ValidatedBatch:
        nonlocal validated_again
        validated_again += 1
        return validate_batch(*args, **kwargs)

    # The writer's fallback when a batch was validated ahead against other definitions.
    monkeypatch.setattr(ingest_module, "validate_batch", counted)

    def batches() -> Iterator[pd.DataFrame]:
        yield pd.DataFrame({"id": ["a"], "ts": [NOW], "y": [1]})
        # Meanwhile another loader defines `x` as a string.
        with psycopg.connect(database_url, autocommit=True) as other:
            other_frame = pd.DataFrame({"id": ["o"], "ts": [NOW], "x": ["text"]})
            ingest_frame(other, other_frame, "id", "ts", source="other")
        for number in range(5):  # numbers: predicted a number key until the writer says
            yield pd.DataFrame({"id": [f"b{number}"], "ts": [NOW], "x": [number]})

    summary = ingest_batches(conn, batches(), TYPED, "ahead")

    assert (summary.rows_written, summary.rows_quarantined) == (1, 5)
    assert {item.reason for item in summary.rejected_samples} == {
        f"expected a string, got number '{number}'" for number in range(5)
    }
    # The batch read before the writer saw `x` defined, and at most the one read meanwhile.
    assert 1 <= validated_again <= 2

"""Ingest rows into the feature store: one transaction per batch, quarantine and drift included.

Each batch validates its rows, writes the valid ones (duplicates skipped), quarantines the rest with
their reasons, records drift and updates `feature_definitions`, all in one transaction: a failure
leaves no part of the batch behind. Batches of one ingest are serialised with other ingests by a
transaction-level advisory lock, so two loaders never disagree about a key's type. Given a way to
open a second connection, the ingest merges the GIN index's pending list on it while it writes
(`pending_merge`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import pandas as pd
import psycopg

from shared.feature_store.definitions import (
    FeatureDefinition,
    load_definitions,
    observe_keys,
    update_definitions,
)
from shared.feature_store.drift import DriftEvent, detect_drift, record_drift
from shared.feature_store.pending_merge import Connect, PendingListMerger
from shared.feature_store.sources import read_batches
from shared.feature_store.validation import (
    Rejection,
    ScreenedBatch,
    SourceLayout,
    ValidatedBatch,
    ValidatedPart,
    ValidRows,
    screen_batch,
    validate_batch,
)
from shared.feature_store.values import ValueType
from shared.feature_store.writer import write_features, write_quarantine

DEFAULT_BATCH_SIZE = 50_000
# Rows of a batch validated at a time: the first part's rows are sent while the rest are validated.
PART_ROWS = 8_192
REJECTION_SAMPLES = 20
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('converge.feature_store.ingest'))"
_CLOCK = "SELECT clock_timestamp()"


class IngestBatchError(RuntimeError):
    """A batch failed in the database and was rolled back; the batches before it are committed."""

    def __init__(self, summary: IngestSummary, first_row: int, cause: psycopg.Error) -> None:
        super().__init__(
            f"{summary.source}: the batch starting at row {first_row} failed and was rolled back "
            f"(rows before it stay committed: {summary.rows_written} written, "
            f"{summary.rows_quarantined} quarantined): {cause}"
        )
        self.summary = summary


@dataclass
class IngestSummary:
    """What an ingest did; `rejected_samples` holds the first rejections (all are in the table)."""

    source: str
    rows_read: int = 0
    rows_written: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    drift: list[DriftEvent] = field(default_factory=list)
    # The first ingest ever (no feature definitions when it began): its keys are the baseline.
    baseline: bool = False
    rejected_samples: list[Rejection] = field(default_factory=list)
    # Entities with rows in committed batches: their cached features are stale.
    entity_ids: set[str] = field(default_factory=set)


def ingest_frame(
    conn: psycopg.Connection,
    frame: pd.DataFrame,
    entity_col: str,
    timestamp_col: str,
    source: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    assume_timezone: tzinfo | None = None,
    second_connection: Connect | None = None,
) -> IngestSummary:
    """Ingest a DataFrame whose cells keep their types (numbers, strings, booleans)."""
    layout = SourceLayout(
        entity_col, timestamp_col, from_text=False, assume_timezone=assume_timezone
    )
    batches = _slices(frame, batch_size)
    return ingest_batches(conn, batches, layout, source, second_connection=second_connection)


def ingest_file(
    conn: psycopg.Connection,
    path: Path,
    entity_col: str,
    timestamp_col: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    assume_timezone: tzinfo | None = None,
    source: str | None = None,
    on_commit: Callable[[Sequence[str]], None] | None = None,
    second_connection: Connect | None = None,
) -> IngestSummary:
    """Ingest a CSV or Parquet file; `source` (default: the file's absolute path) names it.

    `on_commit` is called with the entity ids of each batch once it is committed;
    `second_connection`, when given, opens the connection the index is merged on.
    """
    path = Path(path)
    read = read_batches(path, batch_size)
    layout = SourceLayout(entity_col, timestamp_col, read.from_text, assume_timezone)
    name = source or str(path.resolve())
    return ingest_batches(
        conn, read.batches, layout, name, on_commit=on_commit, second_connection=second_connection
    )


@dataclass(frozen=True)
class _Whole:
    """A batch's outcome and the definitions its valid rows imply."""

    batch: ValidatedBatch
    seen: dict[str, FeatureDefinition]

    @classmethod
    def of(cls, batch: ValidatedBatch) -> _Whole:
        return cls(batch, observe_keys(batch.rows, batch.types))


class _BatchAhead:
    """A batch read ahead: its types are settled, its rows come part by part as validated."""

    def __init__(self, screened: ScreenedBatch, types_used: dict[str, ValueType]) -> None:
        self.screened = screened
        self.types_used = types_used
        self._given: queue.SimpleQueue[ValidatedPart | _Whole | BaseException] = queue.SimpleQueue()
        self._whole: _Whole | None = None

    def give(self, item: ValidatedPart | _Whole | BaseException) -> None:
        """Hand over the next part, then the whole outcome (or what stopped the validation)."""
        self._given.put(item)

    def parts(self) -> Iterator[ValidRows]:
        """Each part's valid rows, in order, as soon as it is validated."""
        while not isinstance(item := self._next(), _Whole):
            yield item.rows
        self._whole = item

    def whole(self) -> _Whole:
        """The batch's outcome, once `parts` has given every part."""
        if self._whole is None:
            raise RuntimeError("the batch's parts were not all read")
        return self._whole

    def _next(self) -> ValidatedPart | _Whole:
        item = self._given.get()
        if isinstance(item, BaseException):
            raise item
        return item


class _ReadAhead:
    """Reads and validates batches on its own thread, one batch ahead of the writer.

    A batch's types are settled over all its rows, then its rows are validated `PART_ROWS` at a
    time, so the writer starts sending a batch after its first part. Validation needs the feature
    types as they will be when the batch is written; it is given a prediction (the definitions the
    writer left after the last batch it committed, plus what the batch validated since defines),
    and the writer validates again in the rare case the definitions it finds under the lock differ
    from it.
    """

    def __init__(
        self, batches: Iterable[pd.DataFrame], layout: SourceLayout, types: Mapping[str, ValueType]
    ) -> None:
        self._batches = iter(batches)
        self._layout = layout
        self._ready: queue.SimpleQueue[_BatchAhead | BaseException | None] = queue.SimpleQueue()
        # Batches held: the one being written and the one read ahead.
        self._room = threading.Semaphore(2)
        # How many batches the writer committed, and the feature types it left (set by `done`).
        self._written: tuple[int, dict[str, ValueType]] = (0, dict(types))
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="converge-ingest", daemon=True)
        self._thread.start()

    def next_batch(self) -> _BatchAhead | None:
        """The next batch (None after the last one), its parts still being validated."""
        item = self._ready.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def done(self, types: Mapping[str, ValueType]) -> None:
        """The writer committed a batch, leaving `types`: the one after the next may be read."""
        self._written = (self._written[0] + 1, dict(types))
        self._room.release()

    def close(self) -> None:
        """Stop: a part being validated is finished and dropped."""
        self._stopped = True
        self._room.release()
        self._thread.join()

    def _run(self) -> None:
        first_row, validated = 1, 0
        # The types the last batch validated defines (it may not be written yet).
        defined: dict[str, ValueType] = {}
        batch: _BatchAhead | None = None
        try:
            while True:
                self._room.acquire()
                if self._stopped:
                    return
                frame = next(self._batches, None)
                if frame is None:
                    self._ready.put(None)
                    return
                written, types = self._written
                if written < validated:
                    # Only its new keys: a written key's type never changes.
                    types = {**defined, **types}
                screened = screen_batch(frame, first_row, self._layout, types)
                batch = _BatchAhead(screened, types)
                self._ready.put(batch)
                whole = self._validate(batch)
                if whole is None:
                    return
                defined, validated = _types(whole.seen), validated + 1
                first_row += len(frame)
                batch = None
        except BaseException as exc:  # handed to the writer, which raises it
            if batch is not None:
                batch.give(exc)
            self._ready.put(exc)

    def _validate(self, batch: _BatchAhead) -> _Whole | None:
        screened = batch.screened
        rows = len(screened.frame)
        parts = []
        for start in range(0, max(rows, 1), PART_ROWS):
            if self._stopped:
                return None
            part = screened.validate_rows(start, min(start + PART_ROWS, rows))
            batch.give(part)
            parts.append(part)
        whole = _Whole.of(screened.outcome(parts))
        batch.give(whole)
        return whole


def ingest_batches(
    conn: psycopg.Connection,
    batches: Iterable[pd.DataFrame],
    layout: SourceLayout,
    source: str,
    *,
    on_commit: Callable[[Sequence[str]], None] | None = None,
    second_connection: Connect | None = None,
) -> IngestSummary:
    """Ingest batches in order, each in its own transaction; rows are numbered from 1.

    `on_commit` is called with the entity ids of each batch once it is committed. Given
    `second_connection`, the GIN index's pending list is merged on that connection while the
    batches are written, and is empty when this returns.
    """
    summary = IngestSummary(source=source)
    ahead = _ReadAhead(batches, layout, _types(load_definitions(conn)))
    merger = PendingListMerger(second_connection) if second_connection else None
    completed = False
    try:
        first_batch, merged_before = True, 0
        while (batch := ahead.next_batch()) is not None:
            if merger is not None and not first_batch:
                # The last batch's pending pages are free again before this one adds its own.
                merger.wait_merged(merged_before)
            try:
                rows, types = _ingest_batch(conn, batch, layout, summary, first_batch=first_batch)
            except psycopg.Error as exc:
                raise IngestBatchError(summary, batch.screened.first_row, exc) from exc
            if merger is not None:
                merged_before = merger.merges_ended()
            ahead.done(types)
            summary.rows_read += len(batch.screened.frame)
            first_batch = False
            if on_commit is not None:
                on_commit(rows.entity_ids)
        completed = True
    finally:
        ahead.close()
        if merger is not None:
            merger.close(merge_first=completed)
    return summary


def _types(definitions: Mapping[str, FeatureDefinition]) -> dict[str, ValueType]:
    return {key: item.value_type for key, item in definitions.items()}


def _ingest_batch(
    conn: psycopg.Connection,
    batch: _BatchAhead,
    layout: SourceLayout,
    summary: IngestSummary,
    *,
    first_batch: bool,
) -> tuple[ValidRows, dict[str, ValueType]]:
    """Write one batch in its own transaction; returns its valid rows and the types left."""
    with conn.transaction():
        conn.execute(_LOCK)
        # The rows' ingestion time, read once the lock is held (the transaction's now() is older):
        # `settled_ingestion_instant` relies on it.
        ingested_at = _clock(conn)
        known = load_definitions(conn)
        if first_batch:
            # Decided under the lock: of two first ingests racing, only one finds no definitions.
            summary.baseline = not known
        types = _types(known)
        screened = batch.screened
        if any(types.get(key) != batch.types_used.get(key) for key in screened.columns):
            # Another ingest (or a rejected batch) left other definitions than predicted.
            whole = _Whole.of(validate_batch(screened.frame, screened.first_row, layout, types))
            written = write_features(conn, [whole.batch.rows], ingested_at)
        else:
            written = write_features(conn, batch.parts(), ingested_at)
            whole = batch.whole()
        outcome, rows = whole.batch, whole.batch.rows
        write_quarantine(conn, summary.source, outcome.rejections)
        batch_from = min(rows.timestamps, default=None)
        findings = detect_drift(
            known, whole.seen, outcome.changed_types, batch_from, baseline=summary.baseline
        )
        events = record_drift(conn, findings, summary.source)
        update_definitions(conn, whole.seen)
    # Counted only once the batch is committed.
    summary.rows_written += written
    summary.rows_duplicate += len(rows) - written
    summary.rows_quarantined += outcome.rows_rejected
    summary.entity_ids.update(rows.entity_ids)
    summary.drift += events
    room = REJECTION_SAMPLES - len(summary.rejected_samples)
    summary.rejected_samples += outcome.rejections[: max(room, 0)]
    return rows, {**types, **_types(whole.seen)}


def _clock(conn: psycopg.Connection) -> datetime:
    row = conn.execute(_CLOCK).fetchone()
    assert row is not None  # a SELECT without FROM returns its one row
    instant: datetime = row[0]
    return instant


def settled_ingestion_instant(conn: psycopg.Connection) -> datetime:
    """The database's clock at a moment when no ingest batch is in flight.

    Every row ingested before it is committed, and every later batch stamps its rows after it, so
    a read bounded by it returns the same rows whenever it is repeated.
    """
    with conn.transaction():
        conn.execute(_LOCK)  # waits for the batch in flight to commit; holds the next one back
        return _clock(conn)


def _slices(frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    for start in range(0, len(frame), batch_size):
        yield frame.iloc[start : start + batch_size]

"""Ingest rows into the feature store: one transaction per batch, quarantine and drift included.

Each batch validates its rows, writes the valid ones (duplicates skipped), quarantines the rest with
their reasons, records drift and updates `feature_definitions`, all in one transaction: a failure
leaves no part of the batch behind. Batches of one ingest are serialised with other ingests by a
transaction-level advisory lock, so two loaders never disagree about a key's type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import tzinfo
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
from shared.feature_store.sources import read_batches
from shared.feature_store.validation import (
    Rejection,
    SourceLayout,
    ValidatedBatch,
    validate_batch,
)
from shared.feature_store.values import ValueType
from shared.feature_store.writer import write_features, write_quarantine

DEFAULT_BATCH_SIZE = 50_000
REJECTION_SAMPLES = 20
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('converge.feature_store.ingest'))"


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
) -> IngestSummary:
    """Ingest a DataFrame whose cells keep their types (numbers, strings, booleans)."""
    layout = SourceLayout(
        entity_col, timestamp_col, from_text=False, assume_timezone=assume_timezone
    )
    return ingest_batches(conn, _slices(frame, batch_size), layout, source)


def ingest_file(
    conn: psycopg.Connection,
    path: Path,
    entity_col: str,
    timestamp_col: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    assume_timezone: tzinfo | None = None,
    source: str | None = None,
) -> IngestSummary:
    """Ingest a CSV or Parquet file; `source` (default: the file's absolute path) names it."""
    path = Path(path)
    read = read_batches(path, batch_size)
    layout = SourceLayout(entity_col, timestamp_col, read.from_text, assume_timezone)
    return ingest_batches(conn, read.batches, layout, source or str(path.resolve()))


@dataclass(frozen=True)
class _Validated:
    """A batch read and validated ahead, with the feature types it was validated against."""

    frame: pd.DataFrame
    first_row: int
    batch: ValidatedBatch
    types_used: dict[str, ValueType]


class _ReadAhead:
    """Reads and validates the next batch on its own thread while the current one is written.

    Validation needs the feature types as they will be after the current batch commits; it is
    given a prediction (the current definitions plus what this batch defines), and the writer
    validates again in the rare case the definitions it finds under the lock differ from it.
    """

    def __init__(self, batches: Iterable[pd.DataFrame], layout: SourceLayout) -> None:
        self._batches = iter(batches)
        self._layout = layout
        self._next_row = 1
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="converge-ingest")

    def submit(self, types: Mapping[str, ValueType]) -> Future[_Validated | None]:
        """Start reading and validating the next batch against `types`."""
        return self._pool.submit(self._validate_next, dict(types))

    def _validate_next(self, types: dict[str, ValueType]) -> _Validated | None:
        frame = next(self._batches, None)
        if frame is None:
            return None
        first_row, self._next_row = self._next_row, self._next_row + len(frame)
        return _Validated(
            frame, first_row, validate_batch(frame, first_row, self._layout, types), types
        )

    def close(self) -> None:
        """Stop: a batch being validated is finished and dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def ingest_batches(
    conn: psycopg.Connection, batches: Iterable[pd.DataFrame], layout: SourceLayout, source: str
) -> IngestSummary:
    """Ingest batches in order, each in its own transaction; rows are numbered from 1."""
    summary = IngestSummary(source=source)
    ahead = _ReadAhead(batches, layout)
    try:
        pending = ahead.submit(_types(load_definitions(conn)))
        while (validated := pending.result()) is not None:
            try:
                pending = _ingest_batch(conn, validated, layout, summary, ahead)
            except psycopg.Error as exc:
                raise IngestBatchError(summary, validated.first_row, exc) from exc
            summary.rows_read += len(validated.frame)
    finally:
        ahead.close()
    return summary


def _types(definitions: Mapping[str, FeatureDefinition]) -> dict[str, ValueType]:
    return {key: item.value_type for key, item in definitions.items()}


def _ingest_batch(
    conn: psycopg.Connection,
    validated: _Validated,
    layout: SourceLayout,
    summary: IngestSummary,
    ahead: _ReadAhead,
) -> Future[_Validated | None]:
    """Write one validated batch in its own transaction; returns the next batch's validation."""
    with conn.transaction():
        conn.execute(_LOCK)
        known = load_definitions(conn)
        types = _types(known)
        batch = validated.batch
        columns = set(validated.frame.columns)
        if any(types.get(key) != validated.types_used.get(key) for key in columns):
            # Another ingest (or a rejected batch) left other definitions than predicted.
            batch = validate_batch(validated.frame, validated.first_row, layout, types)
        rows = batch.rows
        seen = observe_keys(rows, batch.types)
        # The next batch is validated while this one is written.
        pending = ahead.submit({**types, **_types(seen)})
        written = write_features(conn, rows)
        write_quarantine(conn, summary.source, batch.rejections)
        batch_from = min(rows.timestamps, default=None)
        findings = detect_drift(known, seen, batch.changed_types, batch_from)
        events = record_drift(conn, findings, summary.source)
        update_definitions(conn, seen)
    # Counted only once the batch is committed.
    summary.rows_written += written
    summary.rows_duplicate += len(rows) - written
    summary.rows_quarantined += batch.rows_rejected
    summary.entity_ids.update(rows.entity_ids)
    summary.drift += events
    room = REJECTION_SAMPLES - len(summary.rejected_samples)
    summary.rejected_samples += batch.rejections[: max(room, 0)]
    return pending


def _slices(frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    for start in range(0, len(frame), batch_size):
        yield frame.iloc[start : start + batch_size]

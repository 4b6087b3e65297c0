"""Ingest rows into the feature store: one transaction per batch, quarantine and drift included.

Each batch validates its rows, writes the valid ones (duplicates skipped), quarantines the rest with
their reasons, records drift and updates `feature_definitions`, all in one transaction: a failure
leaves no part of the batch behind. Batches of one ingest are serialised with other ingests by a
transaction-level advisory lock, so two loaders never disagree about a key's type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import pandas as pd
import psycopg

from shared.feature_store.definitions import load_definitions, observe_keys, update_definitions
from shared.feature_store.drift import DriftEvent, detect_drift, record_drift
from shared.feature_store.sources import read_batches
from shared.feature_store.validation import Rejection, SourceLayout, validate_batch
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


def ingest_batches(
    conn: psycopg.Connection, batches: Iterable[pd.DataFrame], layout: SourceLayout, source: str
) -> IngestSummary:
    """Ingest batches in order, each in its own transaction; rows are numbered from 1."""
    summary = IngestSummary(source=source)
    for position, frame in enumerate(batches):
        first_row = summary.rows_read + 1
        try:
            _ingest_batch(conn, frame, first_row, layout, summary, first_batch=position == 0)
        except psycopg.Error as exc:
            raise IngestBatchError(summary, first_row, exc) from exc
        summary.rows_read += len(frame)
    return summary


def _ingest_batch(
    conn: psycopg.Connection,
    frame: pd.DataFrame,
    first_row: int,
    layout: SourceLayout,
    summary: IngestSummary,
    *,
    first_batch: bool,
) -> None:
    with conn.transaction():
        conn.execute(_LOCK)
        known = load_definitions(conn)
        if first_batch:
            # Decided under the lock: of two first ingests racing, only one finds no definitions.
            summary.baseline = not known
        known_types = {key: item.value_type for key, item in known.items()}
        batch = validate_batch(frame, first_row, layout, known_types)
        written = write_features(conn, batch.records)
        write_quarantine(conn, summary.source, batch.rejections)
        seen = observe_keys(batch.records, batch.types)
        batch_from = min((record.event_timestamp for record in batch.records), default=None)
        findings = detect_drift(
            known, seen, batch.changed_types, batch_from, baseline=summary.baseline
        )
        events = record_drift(conn, findings, summary.source)
        update_definitions(conn, seen)
    # Counted only once the batch is committed.
    summary.rows_written += written
    summary.rows_duplicate += len(batch.records) - written
    summary.rows_quarantined += batch.rows_rejected
    summary.entity_ids.update(record.entity_id for record in batch.records)
    summary.drift += events
    room = REJECTION_SAMPLES - len(summary.rejected_samples)
    summary.rejected_samples += batch.rejections[: max(room, 0)]


def settled_ingestion_instant(conn: psycopg.Connection) -> datetime:
    """The database's clock at a moment when no ingest batch is in flight.

    Every row with `ingested_at` before it is committed and every later batch writes rows at or
    after it, so a read bounded by it returns the same rows whenever it is repeated.
    """
    with conn.transaction():
        conn.execute(_LOCK)  # waits for the batch in flight to commit; holds the next one back
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    instant: datetime = row[0]
    return instant


def _slices(frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    for start in range(0, len(frame), batch_size):
        yield frame.iloc[start : start + batch_size]

"""Write a validated batch: COPY the rows into feature_store, COPY the quarantine.

The common case, no row stored already, is one COPY straight into feature_store of the lines
the read-ahead thread rendered (`copy_lines`), completed with their ingestion time and sent part
by part as they are validated. A batch holding a row that is stored already fails that COPY at a
savepoint and goes through a staging table instead, which skips duplicates: a row already stored
(same entity and event time) is never changed. Every row of a batch carries the same
`ingested_at`, read by the caller once it holds the ingest lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import psycopg
from psycopg.copy import LibpqWriter
from psycopg.types.json import Jsonb

from shared.feature_store.copy_lines import stamped
from shared.feature_store.validation import Rejection, ValidRows

_COLUMNS = "(entity_id, event_timestamp, dynamic_features, ingested_at)"
_COPY_FEATURES = f"COPY feature_store {_COLUMNS} FROM STDIN"
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS converge_feature_staging (
    entity_id text, event_timestamp timestamptz, dynamic_features jsonb, ingested_at timestamptz
) ON COMMIT DELETE ROWS
"""
_COPY_STAGING = f"COPY converge_feature_staging {_COLUMNS} FROM STDIN"
_INSERT = """
INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features, ingested_at)
SELECT entity_id, event_timestamp, dynamic_features, ingested_at FROM converge_feature_staging
ON CONFLICT (entity_id, event_timestamp) DO NOTHING
"""
_COPY_QUARANTINE = (
    "COPY ingest_quarantine (source, source_row, entity_id, field, reason, raw_record) FROM STDIN"
)


def write_features(
    conn: psycopg.Connection, parts: Iterable[ValidRows], ingested_at: datetime
) -> int:
    """Insert the rows not stored yet, ingested at `ingested_at`; returns how many.

    `parts` are consecutive parts of one batch: each is sent as soon as it is given, so a batch
    validated part by part is written while its later parts are validated.
    """
    given = iter(parts)
    sent: list[ValidRows] = []
    try:
        with conn.transaction():  # a savepoint inside the caller's transaction
            _copy(conn, _COPY_FEATURES, _keeping(given, sent), ingested_at)
        return sum(len(rows) for rows in sent)
    except psycopg.errors.UniqueViolation:
        sent += given  # the parts not given before the COPY failed
        conn.execute(_STAGING)
        # The staging table outlives a batch when the caller holds one transaction over several.
        conn.execute("TRUNCATE converge_feature_staging")
        _copy(conn, _COPY_STAGING, sent, ingested_at)
        return conn.execute(_INSERT).rowcount


def _keeping(parts: Iterator[ValidRows], kept: list[ValidRows]) -> Iterator[ValidRows]:
    for rows in parts:
        kept.append(rows)
        yield rows


def _copy(
    conn: psycopg.Connection, statement: str, parts: Iterable[ValidRows], ingested_at: datetime
) -> None:
    with conn.cursor() as cur:
        # Every piece flushed: PostgreSQL has a part's last rows while the next part is validated.
        writer = LibpqWriter(cur, flush_threshold=0)
        with cur.copy(statement, writer=writer) as copy:
            for rows in parts:
                if rows:
                    # Sent in pieces as PostgreSQL takes them, without holding the GIL.
                    copy.write(stamped(rows.lines, ingested_at))


def write_quarantine(
    conn: psycopg.Connection, source: str, rejections: Sequence[Rejection]
) -> None:
    """Store rejected rows with their reasons and the raw record."""
    if not rejections:
        return
    with conn.cursor() as cur, cur.copy(_COPY_QUARANTINE) as copy:
        for item in rejections:
            copy.write_row(
                (
                    source,
                    item.source_row,
                    item.entity_id,
                    item.field,
                    item.reason,
                    Jsonb(item.raw_record),
                )
            )

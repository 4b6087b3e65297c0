"""Write a validated batch: COPY the rows into feature_store, COPY the quarantine.

The common case, no row stored already, is one COPY straight into feature_store, streamed in
chunks so PostgreSQL works while the next chunk is rendered. A batch holding a row that is stored
already fails that COPY at a savepoint and goes through a staging table instead, which skips
duplicates: a row already stored (same entity and event time) is never changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import psycopg
from psycopg.types.json import Jsonb

from shared.feature_store.validation import Rejection, ValidRows

COPY_CHUNK_ROWS = 5_000
_COLUMNS = "(entity_id, event_timestamp, dynamic_features)"
_COPY_FEATURES = f"COPY feature_store {_COLUMNS} FROM STDIN"
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS converge_feature_staging (
    entity_id text, event_timestamp timestamptz, dynamic_features jsonb
) ON COMMIT DELETE ROWS
"""
_COPY_STAGING = f"COPY converge_feature_staging {_COLUMNS} FROM STDIN"
_INSERT = """
INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features)
SELECT entity_id, event_timestamp, dynamic_features FROM converge_feature_staging
ON CONFLICT (entity_id, event_timestamp) DO NOTHING
"""
_COPY_QUARANTINE = (
    "COPY ingest_quarantine (source, source_row, entity_id, field, reason, raw_record) FROM STDIN"
)
# COPY's text format: these characters of a field are written as backslash escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def write_features(conn: psycopg.Connection, rows: ValidRows) -> int:
    """Insert the rows that are not stored yet; returns how many were new."""
    if not rows:
        return 0
    try:
        with conn.transaction():  # a savepoint inside the caller's transaction
            _copy(conn, _COPY_FEATURES, rows)
        return len(rows)
    except psycopg.errors.UniqueViolation:
        conn.execute(_STAGING)
        # The staging table outlives a batch when the caller holds one transaction over several.
        conn.execute("TRUNCATE converge_feature_staging")
        _copy(conn, _COPY_STAGING, rows)
        return conn.execute(_INSERT).rowcount


def _copy(conn: psycopg.Connection, statement: str, rows: ValidRows) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for start in range(0, len(rows), COPY_CHUNK_ROWS):
            copy.write(copy_text(rows, start, start + COPY_CHUNK_ROWS))


def copy_text(rows: ValidRows, start: int, stop: int) -> bytes:
    """Rows `start` to `stop` as COPY text lines: entity id, ISO timestamp, JSON document."""
    lines = [
        b"%s\t%s\t%s\n"
        % (
            entity.translate(_COPY_ESCAPES).encode(),
            moment.isoformat().encode(),
            orjson.dumps(document).replace(b"\\", b"\\\\"),
        )
        for entity, moment, document in zip(
            rows.entity_ids[start:stop],
            rows.timestamps[start:stop],
            rows.documents[start:stop],
            strict=True,
        )
    ]
    return b"".join(lines)


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

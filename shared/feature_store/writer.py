"""Write a validated batch: COPY into a staging table, insert new rows, COPY the quarantine."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import psycopg
from psycopg.types.json import Jsonb

from shared.feature_store.validation import Rejection
from shared.schemas import FeatureRecord

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS converge_feature_staging (
    entity_id text, event_timestamp timestamptz, dynamic_features jsonb
) ON COMMIT DELETE ROWS
"""
_COPY_STAGING = (
    "COPY converge_feature_staging (entity_id, event_timestamp, dynamic_features) FROM STDIN"
)
# A row already stored (same entity and event time) is a duplicate: it is skipped, never changed.
# ingested_at is this statement's start, which comes after the batch took the ingest lock (not the
# transaction's start, before it): `settled_ingestion_instant` relies on that.
_INSERT = """
INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features, ingested_at)
SELECT entity_id, event_timestamp, dynamic_features, statement_timestamp()
FROM converge_feature_staging
ON CONFLICT (entity_id, event_timestamp) DO NOTHING
"""
_COPY_QUARANTINE = (
    "COPY ingest_quarantine (source, source_row, entity_id, field, reason, raw_record) FROM STDIN"
)


def write_features(conn: psycopg.Connection, records: Sequence[FeatureRecord]) -> int:
    """Insert the records that are not stored yet; returns how many were new."""
    if not records:
        return 0
    conn.execute(_STAGING)
    # The staging table outlives a batch when the caller holds one transaction over several.
    conn.execute("TRUNCATE converge_feature_staging")
    with conn.cursor() as cur:
        with cur.copy(_COPY_STAGING) as copy:
            for record in records:
                # A missing value is an absent key: the stored document holds only present values.
                present = {k: v for k, v in record.dynamic_features.items() if v is not None}
                document = Jsonb(present, dumps=orjson.dumps)
                copy.write_row((record.entity_id, record.event_timestamp, document))
        cur.execute(_INSERT)
        return cur.rowcount


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

"""`feature_definitions`: each feature key with its JSON type and the event times it was seen in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from shared.feature_store.values import ValueType
from shared.schemas import FeatureRecord

_SELECT = "SELECT feature_key, value_type, first_seen, last_seen FROM feature_definitions"

# Types are never overwritten: a value of another type is quarantined and reported as drift.
_UPSERT = """
INSERT INTO feature_definitions AS d (feature_key, value_type, first_seen, last_seen)
SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT (feature_key) DO UPDATE
    SET first_seen = least(d.first_seen, EXCLUDED.first_seen),
        last_seen = greatest(d.last_seen, EXCLUDED.last_seen),
        last_ingested_at = now()
"""


@dataclass(frozen=True)
class FeatureDefinition:
    """A feature key's type and the range of event times it has been seen in."""

    feature_key: str
    value_type: ValueType
    first_seen: datetime
    last_seen: datetime


def load_definitions(conn: psycopg.Connection) -> dict[str, FeatureDefinition]:
    """Every known feature key with its definition."""
    rows = conn.execute(_SELECT).fetchall()
    return {row[0]: FeatureDefinition(*row) for row in rows}


def observe_keys(
    records: Iterable[FeatureRecord], types: Mapping[str, ValueType]
) -> dict[str, FeatureDefinition]:
    """The definitions that `records` alone imply: each present key's type and event-time range."""
    # key -> [first instant, its datetime, last instant, its datetime]; instants are POSIX seconds,
    # because comparing aware datetimes per cell cost more than validating the batch.
    spans: dict[str, list[Any]] = {}
    for record in records:
        moment = record.event_timestamp
        instant = moment.timestamp()
        for key, value in record.dynamic_features.items():
            if value is None:
                continue
            span = spans.get(key)
            if span is None:
                spans[key] = [instant, moment, instant, moment]
            elif instant < span[0]:
                span[0], span[1] = instant, moment
            elif instant > span[2]:
                span[2], span[3] = instant, moment
    return {
        key: FeatureDefinition(key, types[key], first, last)
        for key, (_, first, _, last) in spans.items()
    }


def update_definitions(conn: psycopg.Connection, seen: Mapping[str, FeatureDefinition]) -> None:
    """Add new keys and widen the seen range of known ones."""
    if not seen:
        return
    items = list(seen.values())
    conn.execute(
        _UPSERT,
        (
            [item.feature_key for item in items],
            [item.value_type for item in items],
            [item.first_seen for item in items],
            [item.last_seen for item in items],
        ),
    )

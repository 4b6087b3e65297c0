"""`feature_definitions`: each feature key with its JSON type and the event times it was seen in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg

from shared.feature_store.validation import ValidRows
from shared.feature_store.values import ValueType

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


def observe_keys(rows: ValidRows, types: Mapping[str, ValueType]) -> dict[str, FeatureDefinition]:
    """The definitions that `rows` alone imply: each present key's type and event-time range."""
    # Compared as POSIX seconds: comparing aware datetimes per cell cost more than validating.
    instants = np.array([moment.timestamp() for moment in rows.timestamps], dtype=np.float64)
    seen = {}
    for key, present in rows.present.items():
        positions = np.flatnonzero(present)
        if positions.size == 0:
            continue
        first = positions[np.argmin(instants[positions])]
        last = positions[np.argmax(instants[positions])]
        seen[key] = FeatureDefinition(
            key, types[key], rows.timestamps[int(first)], rows.timestamps[int(last)]
        )
    return seen


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

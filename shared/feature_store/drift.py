"""Feature drift: a new key, a changed type, a key that stopped arriving; recorded and reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from shared.feature_store.definitions import FeatureDefinition
from shared.feature_store.values import ValueType

DriftKind = Literal["new_key", "type_changed", "stopped_arriving"]

# A key that stopped arriving is reported once per last_seen, not again with every later batch.
_INSERT = """
INSERT INTO feature_drift_events (feature_key, kind, detail, source)
SELECT %(feature_key)s, %(kind)s, %(detail)s, %(source)s
WHERE %(kind)s <> 'stopped_arriving' OR NOT EXISTS (
    SELECT 1 FROM feature_drift_events e
    WHERE e.feature_key = %(feature_key)s AND e.kind = 'stopped_arriving'
      AND (e.detail ->> 'last_seen')::timestamptz = (%(detail)s::jsonb ->> 'last_seen')::timestamptz
)
RETURNING feature_key, kind, detail, detected_at
"""

_SELECT = """
SELECT feature_key, kind, detail, detected_at FROM feature_drift_events
WHERE %(since)s::timestamptz IS NULL OR detected_at >= %(since)s
ORDER BY drift_id
"""


@dataclass(frozen=True)
class DriftFinding:
    """Drift seen in one batch, before it is recorded."""

    feature_key: str
    kind: DriftKind
    detail: dict[str, Any]


@dataclass(frozen=True)
class DriftEvent:
    """A recorded drift event."""

    feature_key: str
    kind: DriftKind
    detail: dict[str, Any]
    detected_at: datetime

    def describe(self) -> str:
        """One line for people: the key, the kind and the detail."""
        detail = ", ".join(f"{key}={value}" for key, value in self.detail.items())
        return f"{self.kind}: {self.feature_key} ({detail})"


def detect_drift(
    known: Mapping[str, FeatureDefinition],
    seen: Mapping[str, FeatureDefinition],
    changed_types: Mapping[str, tuple[ValueType, int]],
    batch_from: datetime | None,
    *,
    baseline: bool = False,
) -> list[DriftFinding]:
    """Compare a batch with the known definitions.

    `seen`: the keys the batch's valid rows carry; `changed_types`: key -> (type most of its cells
    had, count) where that differs from the definition; `batch_from`: the earliest valid event time.
    `baseline`: the batch belongs to the first ingest ever, whose keys define the schema that later
    ingests drift from, so none of them is a new key.
    """
    findings = [
        DriftFinding(
            key,
            "new_key",
            {"value_type": item.value_type, "first_seen": item.first_seen.isoformat()},
        )
        for key, item in sorted(seen.items())
        if key not in known and not baseline
    ]
    findings += [
        DriftFinding(
            key,
            "type_changed",
            {"expected": known[key].value_type, "found": found, "rows": rows},
        )
        for key, (found, rows) in sorted(changed_types.items())
    ]
    if batch_from is not None:
        findings += [
            DriftFinding(
                key,
                "stopped_arriving",
                {"last_seen": item.last_seen.isoformat(), "batch_from": batch_from.isoformat()},
            )
            for key, item in sorted(known.items())
            if key not in seen and batch_from > item.last_seen
        ]
    return findings


def record_drift(
    conn: psycopg.Connection, findings: list[DriftFinding], source: str
) -> list[DriftEvent]:
    """Write findings to `feature_drift_events`; returns the events actually recorded."""
    events = []
    for finding in findings:
        params = {
            "feature_key": finding.feature_key,
            "kind": finding.kind,
            "detail": Jsonb(finding.detail),
            "source": source,
        }
        row = conn.execute(_INSERT, params).fetchone()
        if row is not None:
            events.append(DriftEvent(*row))
    return events


def drift_events(conn: psycopg.Connection, since: datetime | None = None) -> list[DriftEvent]:
    """Recorded drift events, oldest first, optionally only those detected at or after `since`."""
    return [DriftEvent(*row) for row in conn.execute(_SELECT, {"since": since}).fetchall()]

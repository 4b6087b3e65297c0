"""As-of reads are bitemporal: a row ingested after the as-of instant is invisible, so an as-of
answer (GraphQL `features(asOf)` or a training frame) is the same after a late backfill."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest

from shared.feature_store import features_as_of, features_as_of_async, features_as_of_frame
from tests.serving.client import running_app
from tests.serving.conftest import Registry, serving_settings, settings_for


def _insert(database_url: str, entity_id: str, event: datetime, size: int) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features) "
            "VALUES (%s, %s, %s::jsonb)",
            (entity_id, event, f'{{"colour": "red", "size": {size}}}'),
        )
    time.sleep(0.01)  # the next instant read in Python is after this row's ingestion


async def _as_of(client: Any, as_of: datetime) -> dict[str, Any]:
    query = (
        f'{{ entity(entityId: "a") {{ features(asOf: "{as_of.isoformat()}") '
        "{ eventTimestamp dynamicFeatures source } } }"
    )
    response = await client.post("/graphql", json={"query": query})
    features: dict[str, Any] = response.json()["data"]["entity"]["features"]
    return features


async def test_a_late_backfill_does_not_change_an_as_of_answer(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    _insert(registry.database_url, "a", start, 1)
    as_of = datetime.now(UTC)
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        before = await _as_of(client, as_of)
        # Arrives late: its event time is before as_of, its ingestion after.
        _insert(registry.database_url, "a", start + timedelta(hours=1), 2)
        after = await _as_of(client, as_of)
        now = await _as_of(client, datetime.now(UTC))

    assert before == after
    assert after["dynamicFeatures"] == {"colour": "red", "size": 1}
    assert datetime.fromisoformat(after["eventTimestamp"]) == start
    assert now["dynamicFeatures"]["size"] == 2  # visible to a read as of after its ingestion


def test_the_shared_read_bounds_ingestion_for_training_frames(database_url: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    _insert(database_url, "a", start, 1)
    built_at = datetime.now(UTC)
    _insert(database_url, "a", start + timedelta(days=1), 2)  # a backfill after the build
    label_time = start + timedelta(days=2)
    labels = pd.DataFrame({"id": ["a"], "at": [label_time]})
    with psycopg.connect(database_url) as conn:
        unbounded = features_as_of(conn, ["a"], [label_time])
        bounded = features_as_of(conn, ["a"], [label_time], ingested_before=built_at)
        frame = features_as_of_frame(conn, labels, "id", "at", ingested_before=built_at)
        with pytest.raises(ValueError, match="ingested_before must be time-zone aware"):
            features_as_of(conn, ["a"], [label_time], ingested_before=datetime(2026, 1, 1))
    assert [row.dynamic_features["size"] for row in unbounded if row] == [2]
    assert [row.dynamic_features["size"] for row in bounded if row] == [1]
    assert frame["size"].tolist() == [1]


async def test_the_async_read_takes_one_bound_per_pair(database_url: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    _insert(database_url, "a", start, 1)
    middle = datetime.now(UTC)
    _insert(database_url, "a", start + timedelta(days=1), 2)
    later = start + timedelta(days=2)
    async with await psycopg.AsyncConnection.connect(database_url) as aconn:
        rows = await features_as_of_async(
            aconn, ["a", "a", "a"], [later] * 3, [middle, None, start]
        )
        with pytest.raises(ValueError, match="pass one bound \\(or None\\) per entity"):
            await features_as_of_async(aconn, ["a"], [later], [])
    assert [row.dynamic_features["size"] if row else None for row in rows] == [1, 2, None]

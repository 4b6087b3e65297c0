"""GraphQL feature reads through the same cache, breakers and fallbacks as REST (issue 11).

PostgreSQL (a private instance) is really stopped during a stream of GraphQL requests: latest and
as-of reads degrade to the default vector within the timeout, the PostgreSQL breaker opens (no
request waits for it after that), cached entities are still served from Redis, and everything
reads PostgreSQL again once it is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.client import metric, running_app
from tests.serving.conftest import (
    DEFAULTS,
    Registry,
    serving_settings,
    settings_for,
    write_features,
)
from tests.serving.services import PrivatePostgres


async def _ask(
    client: httpx.AsyncClient, entity_id: str, as_of: str
) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    fields = (
        "features { source degraded dynamicFeatures } prediction { source degraded output } "
        f'then: features(asOf: "{as_of}") {{ source degraded }}'
    )
    response = await client.post(
        "/graphql", json={"query": f'{{ entity(entityId: "{entity_id}") {{ {fields} }} }}'}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return time.monotonic() - started, body["data"]["entity"]


async def _breaker(client: httpx.AsyncClient, state: str) -> float | None:
    text = (await client.get("/metrics")).text
    return metric(text, "converge_breaker_state", dependency="postgres", state=state)


@pytest.mark.usefixtures("private_glm_champion")
async def test_postgres_lost_graphql_features_degrade_and_the_breaker_opens(
    private_postgres: PrivatePostgres, private_registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    write_features(private_registry.database_url, {"cached": {"colour": "blue", "size": 2}})
    as_of = datetime.now(UTC).isoformat()
    settings = settings_for(private_registry, redis_url, tmp_path)
    config = serving_settings(tmp_path, breaker_reset_timeout_s=1.0)
    async with running_app(config, settings) as (_, client):
        _, warm = await _ask(client, "cached", as_of)  # fills the cache
        await asyncio.to_thread(private_postgres.stop)
        during = [await _ask(client, f"new-{uuid.uuid4().hex}", as_of) for _ in range(12)]
        opened = await _breaker(client, "open")
        fallbacks = metric(
            (await client.get("/metrics")).text,
            "converge_feature_fallbacks_total",
            dependency="postgres",
            reason="breaker_open",
        )
        _, cached = await _ask(client, "cached", as_of)
        no_time = (
            await client.post(
                "/graphql",
                json={"query": '{ entity(entityId: "cached") { latestEventTimestamp } }'},
            )
        ).json()

        await asyncio.to_thread(private_postgres.start)
        await asyncio.sleep(1.1)  # the reset timeout: the next call is the probe
        write_features(private_registry.database_url, {"fresh": {"colour": "red", "size": 1}})
        # A half-open breaker admits one probe: the first request's other reads may still fall
        # back. On a loaded machine the restarted server may refuse that probe, which opens the
        # breaker for another reset timeout: probe until it closes (bounded), then read.
        for _ in range(20):
            await _ask(client, "probe", as_of)
            if await _breaker(client, "closed") == 1.0:
                break
            await asyncio.sleep(1.1)
        _, fresh = await _ask(client, "fresh", datetime.now(UTC).isoformat())
        closed = await _breaker(client, "closed")

    assert warm["features"]["source"] == "db" and warm["then"] == {
        "source": "db",
        "degraded": False,
    }
    default = {"source": "default", "degraded": True}
    for _, answer in during:
        assert {k: answer["features"][k] for k in default} == default
        assert answer["features"]["dynamicFeatures"] == DEFAULTS
        assert {k: answer["prediction"][k] for k in default} == default
        assert answer["then"] == default
    # At most one timeout before the breaker opens; then it refuses at once.
    assert max(latency for latency, _ in during) < 1.0
    assert opened == 1.0
    assert fallbacks is not None and fallbacks > 0
    # Redis still has the entity's latest row: not degraded; the as-of read cannot use it.
    assert cached["features"] == {
        "source": "cache",
        "degraded": False,
        "dynamicFeatures": {"colour": "blue", "size": 2},
    }
    assert cached["then"] == default
    # No default exists for a time: the field is an error that says why, not a guess.
    assert no_time["data"] == {"entity": {"latestEventTimestamp": None}}
    assert no_time["errors"][0]["message"] == (
        "latestEventTimestamp: the feature store (PostgreSQL) is unavailable"
    )
    assert fresh["features"]["source"] == "db" and fresh["then"]["source"] == "db"
    assert closed == 1.0

"""Dependencies lost during a stream of requests (in-process app, private Redis / PostgreSQL).

Redis lost: every answer still 200, served from PostgreSQL within 1 s, breaker open, then closed
after Redis is back. PostgreSQL lost: the default vector, degraded=true, then recovery.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.serving.client import metric, running_app
from tests.serving.conftest import (
    PATIENT,
    Registry,
    serving_settings,
    settings_for,
    write_features,
)
from tests.serving.services import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.h2o


@dataclass
class Answer:
    started: float
    latency_s: float
    status: int
    source: str | None
    degraded: bool | None


async def _ask(client: httpx.AsyncClient, entity_id: str) -> Answer:
    started = time.monotonic()
    response = await client.post("/v1/predict", json={"entity_id": entity_id})
    body = response.json() if response.status_code == 200 else {}
    prediction = (body.get("predictions") or [{}])[0]
    return Answer(
        started,
        time.monotonic() - started,
        response.status_code,
        prediction.get("source"),
        body.get("degraded"),
    )


async def _stream(client: httpx.AsyncClient, entity: str | None, seconds: float) -> list[Answer]:
    """Requests at ~50/s for `seconds`; entity None: a fresh (never cached) entity each time."""
    tasks = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tasks.append(asyncio.create_task(_ask(client, entity or f"new-{uuid.uuid4().hex}")))
        await asyncio.sleep(0.02)
    return list(await asyncio.gather(*tasks))


async def _breaker(client: httpx.AsyncClient, dependency: str, state: str) -> float | None:
    text = (await client.get("/metrics")).text
    return metric(text, "converge_breaker_state", dependency=dependency, state=state)


async def test_redis_lost_during_a_stream(
    registry: Registry, champion: int, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    write_features(registry.database_url, {"patient-1": PATIENT})
    settings = settings_for(registry, private_redis.url, tmp_path)
    config = serving_settings(tmp_path, breaker_reset_timeout_s=1.0)
    async with running_app(config, settings) as (_, client):
        await _ask(client, "patient-1")  # fills the cache
        before = await _stream(client, "patient-1", 0.5)
        stream = asyncio.create_task(_stream(client, "patient-1", 2.0))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(private_redis.stop)
        # Taken once the server is dead: a request that started while the kill was under way
        # may still have been answered by Redis, rightly from the cache.
        stopped_at = time.monotonic()
        during = [a for a in await stream if a.started >= stopped_at]
        assert await _breaker(client, "redis", "open") == 1.0
        fallbacks = metric(
            (await client.get("/metrics")).text,
            "converge_feature_fallbacks_total",
            dependency="redis",
            reason="breaker_open",
        )

        await asyncio.to_thread(private_redis.start)
        await asyncio.sleep(1.1)  # the reset timeout: the next call is the probe
        after = await _stream(client, "patient-1", 0.5)
        assert await _breaker(client, "redis", "closed") == 1.0

    assert {a.source for a in before} == {"cache"}
    assert [a.status for a in during if a.status != 200] == []
    assert during and {a.source for a in during} == {"db"}
    assert not any(a.degraded for a in during)
    assert max(a.latency_s for a in during) < 1.0
    assert fallbacks is not None and fallbacks > 0
    assert after[-1].source == "cache"  # written back once Redis returned


@pytest.mark.usefixtures("private_champion")
async def test_postgres_lost_serves_the_default_vector_degraded(
    private_postgres: PrivatePostgres,
    private_registry: Registry,
    redis_url: str,
    tmp_path: Path,
) -> None:
    registry = private_registry
    write_features(registry.database_url, {"patient-1": PATIENT})
    settings = settings_for(registry, redis_url, tmp_path)
    config = serving_settings(tmp_path, breaker_reset_timeout_s=1.0)
    async with running_app(config, settings) as (_, client):
        assert (await _ask(client, "patient-1")).source == "db"
        stopped_at = time.monotonic()
        await asyncio.to_thread(private_postgres.stop)
        during = await _stream(client, None, 1.5)
        assert await _breaker(client, "postgres", "open") == 1.0
        cached = await _ask(client, "patient-1")  # Redis still has it: not degraded

        await asyncio.to_thread(private_postgres.start)
        await asyncio.sleep(1.1)
        recovered = await _stream(client, "patient-1", 0.3)
        write_features(registry.database_url, {"patient-2": PATIENT})
        fresh = await _ask(client, "patient-2")
        assert await _breaker(client, "postgres", "closed") == 1.0

    assert all(a.started >= stopped_at for a in during)
    assert [a.status for a in during if a.status != 200] == []
    assert {(a.source, a.degraded) for a in during} == {("default", True)}
    assert max(a.latency_s for a in during) < 1.0
    assert (cached.source, cached.degraded) == ("cache", False)
    assert {a.status for a in recovered} == {200}
    assert (fresh.source, fresh.degraded) == ("db", False)

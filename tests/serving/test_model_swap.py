"""Following promotions: hot swap under load, no failed request; a bad new champion is refused."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.handmade_mojo import write_glm_mojo
from tests.serving.client import metric, running_app
from tests.serving.conftest import (
    PATIENT,
    Registry,
    TrainedMojo,
    serving_settings,
    settings_for,
    with_other_h2o_version,
)

pytestmark = pytest.mark.h2o


async def _stream(client: httpx.AsyncClient, stop: asyncio.Event) -> list[httpx.Response]:
    responses: list[httpx.Response] = []
    while not stop.is_set():
        batch = await asyncio.gather(
            *(client.post("/v1/predict", json={"features": PATIENT}) for _ in range(4))
        )
        responses.extend(batch)
    return responses


async def _served_version(
    client: httpx.AsyncClient, features: dict[str, object] | None = None
) -> int:
    response = await client.post("/v1/predict", json={"features": features or PATIENT})
    version: int = response.json()["model_version"]
    return version


async def _wait_for_version(
    client: httpx.AsyncClient,
    version: int,
    timeout_s: float,
    features: dict[str, object] | None = None,
) -> float:
    started = time.monotonic()
    while await _served_version(client, features) != version:
        assert time.monotonic() - started < timeout_s, f"model_version {version} never served"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_promotion_during_a_stream_swaps_with_no_failed_request(
    registry: Registry,
    champion: int,
    trained_mojos: list[TrainedMojo],
    redis_url: str,
    tmp_path: Path,
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    # Polling is slow here, so the swap within the wait below shows LISTEN/NOTIFY at work.
    config = serving_settings(tmp_path, model_poll_interval_s=30)
    async with running_app(config, settings) as (_, client):
        stop = asyncio.Event()
        stream = asyncio.create_task(_stream(client, stop))
        await asyncio.sleep(0.3)
        second = registry.register(trained_mojos[1])
        await asyncio.to_thread(registry.promote, second)
        await _wait_for_version(client, second, timeout_s=10)
        await asyncio.sleep(0.3)
        stop.set()
        responses = await stream
        ready = (await client.get("/ready")).json()
        metrics_text = (await client.get("/metrics")).text
    assert [r.status_code for r in responses if r.status_code != 200] == []
    versions = [r.json()["model_version"] for r in responses]
    assert versions[0] == champion and versions[-1] == second
    switch = versions.index(second)
    assert set(versions[switch:]) == {second}  # once swapped, never the old one again
    p1 = {
        r.json()["model_version"]: r.json()["predictions"][0]["prediction"]["p1"] for r in responses
    }
    assert p1[champion] != p1[second]  # really another model, not a relabel
    assert ready["model"]["model_version"] == second
    assert metric(metrics_text, "converge_model_info", model_version=str(second)) == 1.0
    assert metric(metrics_text, "converge_model_info", model_version=str(champion)) is None


@pytest.mark.parametrize("fault", ["sha256", "h2o_version", "missing"])
async def test_a_bad_new_champion_is_refused_and_the_old_keeps_serving(
    registry: Registry,
    champion: int,
    trained_mojos: list[TrainedMojo],
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        if fault == "sha256":
            bad = registry.register(trained_mojos[1])
            stored = registry.artifact_path(bad)
            stored.write_bytes(b"not a mojo" + stored.read_bytes())
        elif fault == "missing":
            bad = registry.register(trained_mojos[1])
            registry.artifact_path(bad).unlink()
        else:
            forged = with_other_h2o_version(trained_mojos[1].path, tmp_path / "f.zip", "3.40.0.1")
            bad = registry.register(TrainedMojo(forged, "gbm", trained_mojos[1].features))
        await asyncio.to_thread(registry.promote, bad)
        deadline = time.monotonic() + 10
        refused = None
        while refused is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            text = (await client.get("/metrics")).text
            refused = metric(text, "converge_model_refusals_total", reason=fault)
        assert refused == 1.0
        assert await _served_version(client) == champion
        ready = await client.get("/ready")
        assert ready.status_code == 200 and ready.json()["model"]["model_version"] == champion
        assert ready.json()["refused"]["model_version"] == bad
        # The follower kept going: the next good promotion is served, and /ready heals.
        glm = TrainedMojo(write_glm_mojo(tmp_path / "glm.zip"), "glm", ["colour", "size"])
        fixed = registry.register(glm)
        await asyncio.to_thread(registry.promote, fixed)
        # Features both models read, so every answer names the version that scored it.
        both = {**PATIENT, "colour": "red", "size": 1}
        await _wait_for_version(client, fixed, timeout_s=5, features=both)
        assert "refused" not in (await client.get("/ready")).json()
    assert any(
        f"model_version {bad} refused" in r.message
        and f"serving model_version {champion}" in r.message
        for r in caplog.records
    )
    assert not any("lost its connection" in r.message for r in caplog.records)

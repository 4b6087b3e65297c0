"""Bounded requests: 413 before parsing (declared length, chunked stream); inline features the
model cannot read at all get 422."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.serving.client import metric, running_app
from tests.serving.conftest import Registry, serving_settings, settings_for

LIMIT = 64 * 1024


@pytest.mark.parametrize("route", ["/v1/predict", "/graphql"])
async def test_a_declared_body_over_the_limit_gets_413_unread(
    route: str, registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    big = b'{"features": {"size": 1, "pad": "' + b"x" * (LIMIT * 4) + b'"}}'
    async with running_app(serving_settings(tmp_path, max_body_bytes=LIMIT), settings) as (
        _,
        client,
    ):
        refused = await client.post(
            route, content=big, headers={"content-type": "application/json"}
        )
        assert refused.status_code == 413
        assert "CONVERGE_SERVING_MAX_BODY_BYTES" in refused.json()["detail"]
        fine = await client.post("/v1/predict", json={"features": {"colour": "red", "size": 2}})
        assert fine.status_code == 200 and fine.json()["model_version"] == glm_champion
        text = (await client.get("/metrics")).text
        # Refused before routing, so it is timed under the "unmatched" route label.
        timed = {"route": "unmatched", "method": "POST", "status": "413"}
        assert metric(text, "converge_request_latency_seconds_count", **timed) == 1.0


async def test_a_chunked_body_is_cut_off_at_the_limit(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    """No Content-Length: the body is counted as it arrives, and not read to its end."""
    sent = 0
    chunk = b" " * 16 * 1024

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"features": {"size": 1}'
        for _ in range(100 * 1024 * 1024 // len(chunk)):  # 100 MiB if read to the end
            sent += len(chunk)
            yield chunk
        yield b"}"

    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path, max_body_bytes=LIMIT), settings) as (
        _,
        client,
    ):
        refused = await client.post(
            "/v1/predict", content=endless(), headers={"content-type": "application/json"}
        )
    assert refused.status_code == 413
    assert sent < 2 * LIMIT


async def test_inline_features_naming_no_model_column_get_422(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        refused = await client.post("/v1/predict", json={"features": {"zzz": 1}})
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert "no key of `features` is a column" in detail and "colour, size" in detail
        partial = await client.post("/v1/predict", json={"features": {"size": 2, "zzz": 1}})
        assert partial.status_code == 200 and partial.json()["degraded"] is False

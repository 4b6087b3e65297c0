"""Start-up: no champion yet (503 with the reason), refused champions, and request validation."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from tests.serving.client import metric, running_app
from tests.serving.conftest import (
    Registry,
    TrainedMojo,
    glm_mojo,
    serving_settings,
    settings_for,
    with_other_h2o_version,
)


async def test_without_champion_the_app_runs_but_is_not_ready(
    registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert "no champion is registered" in ready.json()["reason"]
        assert ready.json()["breakers"] == {"redis": "closed", "postgres": "closed"}
        predicted = await client.post("/v1/predict", json={"entity_id": "e1"})
        assert predicted.status_code == 503
        assert "no champion is registered" in predicted.json()["detail"]
        graphql = await client.post("/graphql", json={"query": "{ champion { version } }"})
        assert graphql.json() == {"data": {"champion": None}}
        text = (await client.get("/metrics")).text
        assert metric(text, "converge_breaker_state", dependency="redis", state="closed") == 1.0
        assert (
            metric(
                text,
                "converge_request_latency_seconds_count",
                route="/ready",
                method="GET",
                status="503",
            )
            == 1.0
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entity_id": 5}, "entity_id"),
        ({"entity_ids": []}, "entity_ids"),
        ({"entity_ids": ["a", ""]}, "entity_ids"),
        ({"features": {"AGE": float("inf")}}, "features"),
        ({"features": {"AGE": [1, 2]}}, "features"),
        ({"entity_id": "a", "features": {"AGE": 1}}, "exactly one of"),
        ({"entity": "a"}, "entity"),
    ],
)
async def test_bad_requests_get_422_naming_the_field(
    registry: Registry, redis_url: str, tmp_path: Path, body: dict[str, object], field: str
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        if body == {"features": {"AGE": float("inf")}}:
            response = await client.post(
                "/v1/predict",
                content=b'{"features": {"AGE": Infinity}}',
                headers={"content-type": "application/json"},
            )
        else:
            response = await client.post("/v1/predict", json=body)
    assert response.status_code == 422
    assert field in response.text


def _bad_champion(fault: str, registry: Registry, mojo: TrainedMojo, tmp_path: Path) -> int:
    """Register and promote a champion serving must refuse, in the way `fault` names."""
    if fault == "h2o_version":
        version = registry.register(mojo, h2o_version="3.44.0.3")
        registry.promote(version, allow_version_mismatch=True)
        return version
    if fault == "mojo_h2o_version":
        forged = with_other_h2o_version(mojo.path, tmp_path / "old.zip", "3.40.0.1")
        version = registry.register(TrainedMojo(forged, "gbm", mojo.features))
    else:
        version = registry.register(mojo)
    registry.promote(version)
    stored = registry.artifact_path(version)
    if fault == "sha256":
        stored.write_bytes(stored.read_bytes() + b"tampered")
    elif fault == "missing":
        stored.unlink()
    return version


FAULTS = {
    "h2o_version": ("h2o_version", "3.44.0.3"),
    "mojo_h2o_version": ("h2o_version", "h2o 3.40.0.1"),
    "sha256": ("sha256", "is corrupt"),
    "missing": ("missing", "no artifact at"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_refused_champion_at_start_up_serves_the_newest_good_earlier_one(
    fault: str, registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    """A pod restarted while the champion is bad serves the previous champion, never crash-loops."""
    good = registry.register(glm_mojo(tmp_path, 1.0))
    registry.promote(good)
    bad = _bad_champion(fault, registry, glm_mojo(tmp_path, 2.0), tmp_path)
    reason, named = FAULTS[fault]
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        ready = await client.get("/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["model"]["model_version"] == good
        assert body["refused"]["model_version"] == bad and body["refused"]["reason"] == reason
        assert named in body["refused"]["message"]
        predicted = await client.post("/v1/predict", json={"features": {"size": 2}})
        assert predicted.status_code == 200 and predicted.json()["model_version"] == good
        text = (await client.get("/metrics")).text
        assert metric(text, "converge_model_refusals_total", reason=reason) == 1.0


async def test_a_refused_champion_with_nothing_earlier_leaves_the_app_up_but_not_ready(
    registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    bad = _bad_champion("sha256", registry, glm_mojo(tmp_path, 3.0), tmp_path)
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert f"model_version {bad} refused" in ready.json()["reason"]
        assert "no earlier champion" in ready.json()["reason"]
        assert ready.json()["refused"]["reason"] == "sha256"


async def test_malformed_json_gets_422(registry: Registry, redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        response = await client.post(
            "/v1/predict", content=b'{"entity_id": ', headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"


async def test_openapi_documents_the_predict_body_and_answer(
    registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/predict"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"entity_id", "entity_ids", "features"}
    assert body["additionalProperties"] is False
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/PredictResponse"}
    assert set(document["components"]["schemas"]["PredictResponse"]["properties"]) == {
        "model_version",
        "degraded",
        "predictions",
    }
    assert {"422", "503"} <= set(operation["responses"])


async def test_start_up_freezes_the_long_lived_heap(
    registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    gc.unfreeze()  # other tests of this process may have frozen objects already
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings):
        # Imports and start-up objects are out of reach of full collections (loop pauses).
        assert gc.get_freeze_count() > 10_000

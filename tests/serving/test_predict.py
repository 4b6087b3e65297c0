"""POST /v1/predict with a real champion: feature sources and agreement with H2O's own scores."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.serving.client import metric, running_app
from tests.serving.conftest import (
    DEFAULTS,
    LATEST_ROWS_SQL,
    PATIENT,
    Registry,
    TrainedMojo,
    serving_settings,
    settings_for,
    write_features,
)
from tests.serving.services import PrivatePostgres

pytestmark = pytest.mark.h2o


def h2o_p1(h2o: Any, mojo: TrainedMojo, rows: list[dict[str, Any]]) -> list[float]:
    """P(CAPSULE=1) from the H2O cluster itself, scoring the same MOJO (the reference)."""
    model = h2o.upload_mojo(str(mojo.path))
    frame = h2o.H2OFrame(
        [[row[c] for c in mojo.features] for row in rows], column_names=mojo.features
    )
    return [float(v) for v in model.predict(frame).as_data_frame(use_pandas=True)["p1"]]


async def test_sources_and_scores(
    h2o_cluster: Any,
    registry: Registry,
    champion: int,
    trained_mojos: list[TrainedMojo],
    redis_url: str,
    tmp_path: Path,
) -> None:
    write_features(registry.database_url, {"patient-1": PATIENT})
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path, cache_ttl_s=120), settings) as (_, client):
        first = (await client.post("/v1/predict", json={"entity_id": "patient-1"})).json()
        assert first["model_version"] == champion and first["degraded"] is False
        assert first["predictions"][0]["source"] == "db"
        cache = redis.Redis.from_url(redis_url)
        key = "converge:features:patient-1"
        assert json.loads(cache.get(key) or b"null") == PATIENT  # read-through write-back
        assert 0 < cache.ttl(key) <= 120
        cache.close()

        second = (await client.post("/v1/predict", json={"entity_id": "patient-1"})).json()
        assert second["predictions"][0]["source"] == "cache"
        assert second["predictions"][0]["prediction"] == first["predictions"][0]["prediction"]

        many = (
            await client.post("/v1/predict", json={"entity_ids": ["patient-1", "nobody"]})
        ).json()
        assert [p["source"] for p in many["predictions"]] == ["cache", "default"]
        assert [p["entity_id"] for p in many["predictions"]] == ["patient-1", "nobody"]
        assert many["degraded"] is True and many["predictions"][1]["degraded"] is True

        inline = (await client.post("/v1/predict", json={"features": PATIENT})).json()
        assert inline["predictions"][0]["source"] == "inline"
        assert inline["predictions"][0]["entity_id"] is None

        bad = await client.post("/v1/predict", json={"features": {"AGE": "old"}})
        assert bad.status_code == 422 and "AGE" in bad.json()["detail"]

        metrics_text = (await client.get("/metrics")).text
        assert metric(metrics_text, "converge_feature_source_total", source="cache") == 2.0
        assert metric(metrics_text, "converge_model_info", model_version=str(champion)) == 1.0

    reference = h2o_p1(h2o_cluster, trained_mojos[0], [PATIENT, DEFAULTS])
    served = [
        first["predictions"][0]["prediction"]["p1"],
        many["predictions"][1]["prediction"]["p1"],
    ]
    assert served == pytest.approx(reference, abs=1e-6)
    assert inline["predictions"][0]["prediction"]["p1"] == pytest.approx(reference[0], abs=1e-6)


async def test_concurrent_requests_are_micro_batched(
    registry: Registry, champion: int, redis_url: str, tmp_path: Path
) -> None:
    write_features(registry.database_url, {f"e{i}": {**PATIENT, "AGE": 50 + i} for i in range(40)})
    settings = settings_for(registry, redis_url, tmp_path)
    config = serving_settings(tmp_path, batch_max_wait_ms=20)
    async with running_app(config, settings) as (_, client):
        responses = await asyncio.gather(
            *(client.post("/v1/predict", json={"entity_id": f"e{i}"}) for i in range(40))
        )
        assert all(r.status_code == 200 for r in responses)
        metrics_text = (await client.get("/metrics")).text
    rows = metric(metrics_text, "converge_batch_rows_sum")
    batches = metric(metrics_text, "converge_batch_rows_count")
    assert rows == 40.0
    assert batches is not None and batches < 40  # requests shared scoring calls
    p1 = {r.json()["predictions"][0]["prediction"]["p1"] for r in responses}
    assert len(p1) > 1  # each caller got its own row's score back


@pytest.mark.usefixtures("private_champion")
async def test_concurrent_requests_share_one_feature_lookup(
    private_postgres: PrivatePostgres,
    private_registry: Registry,
    redis_url: str,
    tmp_path: Path,
) -> None:
    registry = private_registry
    ids = [f"batch-{uuid.uuid4().hex}" for _ in range(12)]
    write_features(
        registry.database_url, {e: {**PATIENT, "AGE": 40 + i} for i, e in enumerate(ids)}
    )
    settings = settings_for(registry, redis_url, tmp_path)
    config = serving_settings(tmp_path, batch_max_wait_ms=50)
    async with running_app(config, settings) as (_, client):
        before = private_postgres.statements_matching(LATEST_ROWS_SQL)
        responses = await asyncio.gather(
            *(client.post("/v1/predict", json={"entity_id": e}) for e in ids)
        )
        statements = private_postgres.statements_matching(LATEST_ROWS_SQL) - before
        text = (await client.get("/metrics")).text
    assert [r.status_code for r in responses] == [200] * len(ids)
    assert [r.json()["predictions"][0]["entity_id"] for r in responses] == ids
    assert {r.json()["predictions"][0]["source"] for r in responses} == {"db"}
    # One batch: one SQL statement for the twelve requests (and one MGET, which missed).
    assert statements == 1
    assert metric(text, "converge_batch_rows_count") == 1.0
    assert metric(text, "converge_feature_source_total", source="db") == len(ids)

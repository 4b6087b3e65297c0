"""The GraphQL API: features, predictions and champion; one SQL per batch; depth limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.client import running_app
from tests.serving.conftest import (
    LATEST_ROWS_SQL,
    PATIENT,
    Registry,
    serving_settings,
    settings_for,
    write_features,
)
from tests.serving.services import PrivatePostgres

pytestmark = pytest.mark.h2o


async def _query(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_n_entities_cost_one_sql_per_batch(
    private_postgres: PrivatePostgres,
    private_registry: Registry,
    private_champion: int,
    redis_url: str,
    tmp_path: Path,
) -> None:
    registry, version = private_registry, private_champion
    ids = [f"g{i}" for i in range(10)]
    rows = {
        e: {**PATIENT, "AGE": 50 + i, "PSA": 1.0 + 15 * i, "GLEASON": 5 + i % 4}
        for i, e in enumerate(ids)
    }
    write_features(registry.database_url, rows)
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        baseline = private_postgres.statements_matching(LATEST_ROWS_SQL)
        listed = ", ".join(f'"{e}"' for e in ids)
        body = await _query(
            client,
            f"{{ entities(entityIds: [{listed}]) {{ entityId features {{ eventTimestamp "
            "dynamicFeatures } prediction { modelVersion source degraded output } } "
            "champion { modelVersion h2oVersion algo } }",
        )
        # features: one statement for all 10; predictions: one cache lookup, one statement.
        assert private_postgres.statements_matching(LATEST_ROWS_SQL) - baseline == 2

        aliased = " ".join(
            f'{e}: entity(entityId: "{e}") {{ features {{ dynamicFeatures }} }}' for e in ids
        )
        by_alias = await _query(client, f"{{ {aliased} }}")
        assert private_postgres.statements_matching(LATEST_ROWS_SQL) - baseline == 3

    entities = body["data"]["entities"]
    assert [e["entityId"] for e in entities] == ids
    assert [e["features"]["dynamicFeatures"]["AGE"] for e in entities] == [
        50 + i for i in range(10)
    ]
    assert {e["prediction"]["source"] for e in entities} == {"db"}
    assert {e["prediction"]["modelVersion"] for e in entities} == {version}
    assert len({e["prediction"]["output"]["p1"] for e in entities}) > 1
    assert body["data"]["champion"] == {
        "modelVersion": version,
        "h2oVersion": "3.46.0.11",
        "algo": "gbm",
    }
    assert by_alias["data"]["g3"]["features"]["dynamicFeatures"] == rows["g3"]


async def test_queries_deeper_than_five_are_refused(
    registry: Registry, champion: int, redis_url: str, tmp_path: Path
) -> None:
    write_features(registry.database_url, {"d1": PATIENT})
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        ok = await _query(
            client,
            '{ entity(entityId: "d1") { prediction { entity { prediction { modelVersion } } } } }',
        )
        too_deep = await _query(
            client,
            '{ entity(entityId: "d1") { prediction { entity { prediction { entity { prediction '
            "{ modelVersion } } } } } } }",
        )
        missing = await _query(client, '{ entity(entityId: "nobody") { features { entityId } } }')
    assert ok["data"]["entity"]["prediction"]["entity"]["prediction"]["modelVersion"] == champion
    assert too_deep.get("data") is None
    assert "exceeds maximum operation depth of 5" in too_deep["errors"][0]["message"]
    assert missing == {"data": {"entity": {"features": None}}}

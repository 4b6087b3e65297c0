"""The GraphQL API: features, predictions, models; one SQL statement per loader batch and one
scoring batch per request, counted from PostgreSQL's own log; depth limit."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.client import metric, running_app
from tests.serving.conftest import (
    DEFAULTS,
    LATEST_ROWS_SQL,
    PATIENT,
    Registry,
    TrainedMojo,
    glm_mojo,
    serving_settings,
    settings_for,
    write_features,
)
from tests.serving.services import PrivatePostgres

# Fragments of the statements the loaders run (shared/feature_store, shared/registry).
AS_OF_SQL = "WITH ORDINALITY AS q(entity_id, as_of, ingested_before"
MODELS_SQL = "FROM model_registry WHERE model_version = ANY"


async def _query(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _listed(ids: list[str]) -> str:
    return ", ".join(f'"{e}"' for e in ids)


def _default_threshold(mojo: Path) -> float:
    with zipfile.ZipFile(mojo) as bundle:
        ini = bundle.read("model.ini").decode()
    [line] = [line for line in ini.splitlines() if line.startswith("default_threshold")]
    return float(line.partition("=")[2])


async def _batches(client: httpx.AsyncClient) -> float:
    return metric((await client.get("/metrics")).text, "converge_batch_rows_count") or 0.0


async def test_fifty_entities_as_of_with_predictions_and_models_cost_one_statement_per_batch(
    private_postgres: PrivatePostgres, private_registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    registry = private_registry
    version = registry.register(glm_mojo(tmp_path))
    registry.promote(version)
    ids = [f"e{i:02d}" for i in range(50)]
    write_features(
        registry.database_url, {e: {"colour": "red", "size": i} for i, e in enumerate(ids)}
    )
    as_of = datetime.now(UTC).isoformat()
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        before = {sql: private_postgres.statements_matching(sql) for sql in (AS_OF_SQL, MODELS_SQL)}
        batches = await _batches(client)
        body = await _query(
            client,
            f'{{ entities(entityIds: [{_listed(ids)}]) {{ entityId features(asOf: "{as_of}") '
            "{ eventTimestamp dynamicFeatures source } "
            "prediction { modelVersion output threshold model { version metrics isChampion } } } }",
        )
        ran = {sql: private_postgres.statements_matching(sql) - n for sql, n in before.items()}
        scored = await _batches(client) - batches

    assert "errors" not in body, body
    assert ran == {AS_OF_SQL: 1, MODELS_SQL: 1}
    assert scored == 1
    entities = body["data"]["entities"]
    assert [e["entityId"] for e in entities] == ids
    assert [e["features"]["dynamicFeatures"]["size"] for e in entities] == list(range(50))
    assert {e["features"]["source"] for e in entities} == {"db"}
    # eta = red 0.5 + 3 * size + intercept 10
    assert [e["prediction"]["output"]["predict"] for e in entities] == [
        10.5 + 3 * i for i in range(50)
    ]
    assert {e["prediction"]["threshold"] for e in entities} == {None}  # regression: no label
    assert {(e["prediction"]["model"]["version"], e["prediction"]["model"]["isChampion"])
            for e in entities} == {(version, True)}  # fmt: skip


@pytest.mark.h2o
async def test_latest_features_and_predictions_share_the_cache_and_one_sql_per_batch(
    private_postgres: PrivatePostgres,
    private_registry: Registry,
    private_champion: int,
    trained_mojos: list[TrainedMojo],
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
        body = await _query(
            client,
            f"{{ entities(entityIds: [{_listed(ids)}]) {{ entityId latestEventTimestamp "
            "features { dynamicFeatures source } "
            "prediction { modelVersion source degraded output threshold } } "
            "champion { version h2oVersion algo serving } }",
        )
        first = private_postgres.statements_matching(LATEST_ROWS_SQL) - baseline
        aliased = " ".join(
            f'{e}: entity(entityId: "{e}") {{ features {{ dynamicFeatures source }} }}' for e in ids
        )
        by_alias = await _query(client, f"{{ {aliased} }}")
        second = private_postgres.statements_matching(LATEST_ROWS_SQL) - baseline - first

    # latestEventTimestamp: one statement; features and predictions: one Redis MGET each and at
    # most one statement each for the misses (they run concurrently; the second may find the
    # first one's write-back). The aliased request is answered from the cache: no statement.
    assert 2 <= first <= 3
    assert second == 0
    entities = body["data"]["entities"]
    assert [e["entityId"] for e in entities] == ids
    assert [e["features"]["dynamicFeatures"]["AGE"] for e in entities] == [
        50 + i for i in range(10)
    ]
    assert all(e["latestEventTimestamp"] for e in entities)
    assert {e["prediction"]["modelVersion"] for e in entities} == {version}
    assert len({e["prediction"]["output"]["p1"] for e in entities}) > 1
    # The label's threshold is model.ini's, and it is the one the labels were chosen with.
    threshold = _default_threshold(trained_mojos[0].path)
    assert {e["prediction"]["threshold"] for e in entities} == {threshold}
    for e in entities:
        output = e["prediction"]["output"]
        assert output["predict"] == ("1" if output["p1"] >= threshold else "0")
    assert body["data"]["champion"] == {
        "version": version,
        "h2oVersion": "3.46.0.11",
        "algo": "gbm",
        "serving": True,
    }
    assert by_alias["data"]["g3"]["features"] == {"dynamicFeatures": rows["g3"], "source": "cache"}


async def test_models_promotions_and_the_registry_fields(
    registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    first = registry.register(glm_mojo(tmp_path, 1.0))
    second = registry.register(glm_mojo(tmp_path, 2.0))
    registry.promote(first)
    registry.promote(second)
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        body = await _query(
            client,
            '{ models(limit: 5, algo: "glm") { version algo sha256 orchestrator gitCommit '
            "artifactUri createdAt isChampion trainingConfig leaderboard featureList } "
            'gbms: models(algo: "gbm") { version } '
            f"model(version: {first}) {{ version isChampion }} missing: model(version: 999) "
            "{ version } "
            "promotions(limit: 10) { modelVersion previousVersion actor reason "
            "previous { version } model { version } } }",
        )
        too_many = await _query(client, "{ promotions(limit: 101) { modelVersion } }")
    data = body["data"]
    assert [m["version"] for m in data["models"]] == [second, first]
    assert [m["isChampion"] for m in data["models"]] == [True, False]
    assert {m["orchestrator"] for m in data["models"]} == {"cli"}
    assert all(m["artifactUri"].startswith("file://") and len(m["sha256"]) == 64
               for m in data["models"])  # fmt: skip
    assert data["models"][0]["featureList"] == ["colour", "size"]
    assert data["models"][0]["leaderboard"] is None
    assert data["gbms"] == []
    assert data["model"] == {"version": first, "isChampion": False}
    assert data["missing"] is None
    promotions = data["promotions"]
    assert [(p["modelVersion"], p["previousVersion"]) for p in promotions] == [
        (second, first),
        (first, None),
    ]
    assert promotions[0]["previous"] == {"version": first}
    assert promotions[1]["previous"] is None
    assert promotions[0]["reason"] == "test promotion" and promotions[0]["actor"]
    assert (
        "promotions: limit must be between 1 and 100, given 101"
        in (too_many["errors"][0]["message"])
    )


async def test_queries_deeper_than_five_are_refused(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    write_features(registry.database_url, {"d1": {"colour": "blue", "size": 1}})
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
        missing = await _query(
            client,
            '{ entity(entityId: "nobody") { latestEventTimestamp '
            "features { source degraded dynamicFeatures } "
            'old: features(asOf: "2020-01-01T00:00:00Z") { source } } }',
        )
        naive = await _query(
            client,
            '{ entity(entityId: "d1") { features(asOf: "2020-01-01T00:00:00") { source } } }',
        )
    assert (
        ok["data"]["entity"]["prediction"]["entity"]["prediction"]["modelVersion"] == glm_champion
    )
    assert too_deep.get("data") is None
    assert "exceeds maximum operation depth of 5" in too_deep["errors"][0]["message"]
    # No row: the latest read serves the default vector as REST does; as of an instant, null.
    assert missing["data"]["entity"] == {
        "latestEventTimestamp": None,
        "features": {"source": "default", "degraded": True, "dynamicFeatures": DEFAULTS},
        "old": None,
    }
    assert "asOf must include a time zone" in naive["errors"][0]["message"]


def test_every_type_field_and_argument_is_described() -> None:
    """GraphiQL's docs panel shows these; an undocumented one is named here."""
    from graphql import GraphQLInputObjectType, GraphQLObjectType

    from serving.graphql.schema import schema

    missing = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
    assert missing == []


async def test_the_graphiql_example_query_works(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    from serving.graphql.ide import EXAMPLE_QUERY

    write_features(registry.database_url, {"customer-000001": {"colour": "green", "size": 3}})
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        body = await _query(client, EXAMPLE_QUERY)
    assert "errors" not in body, body
    assert body["data"]["champion"]["version"] == glm_champion
    entity = body["data"]["entity"]
    assert entity["features"]["dynamicFeatures"] == {"colour": "green", "size": 3}
    assert entity["prediction"]["output"] == {"predict": -1.0 + 9 + 10.0}
    assert entity["latestEventTimestamp"] is not None

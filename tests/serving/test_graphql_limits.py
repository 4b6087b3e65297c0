"""GraphQL bounds: ids per list, aliases, tokens, a prediction budget; masked internal errors;
GraphiQL and introspection only when a setting turns them on."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.client import metric, running_app
from tests.serving.conftest import Registry, serving_settings, settings_for
from tests.serving.services import PrivatePostgres


async def _query(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(prefix: str, n: int) -> str:
    return ", ".join(f'"{prefix}{i}"' for i in range(n))


async def test_entities_are_capped_like_rest(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        over = await _query(
            client, f"{{ entities(entityIds: [{_ids('e', 1001)}]) {{ entityId }} }}"
        )
        at = await _query(client, f"{{ entities(entityIds: [{_ids('e', 1000)}]) {{ entityId }} }}")
    assert over["data"] is None
    assert "entities: at most 1000 ids, given 1001" in over["errors"][0]["message"]
    assert len(at["data"]["entities"]) == 1000


async def test_aliases_and_tokens_are_limited_before_execution(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        aliased = " ".join(f'a{i}: entity(entityId: "x") {{ entityId }}' for i in range(16))
        too_many = await _query(client, f"{{ {aliased} }}")
        huge = " ".join(f"b{i}: champion {{ modelVersion }}" for i in range(400))
        too_long = await _query(client, f"{{ {huge} }}")
    assert "16 aliases found. Allowed: 15" in too_many["errors"][0]["message"]
    assert "Document contains more than 2000 tokens" in too_long["errors"][0]["message"]
    assert too_long.get("data") is None


async def test_predictions_beyond_the_budget_are_refused_before_scoring(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    """Two aliases of 600 ids each: 1200 predictions, over the 1000 budget; nothing is scored."""
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        first = f"a: entities(entityIds: [{_ids('p', 600)}]) {{ prediction {{ modelVersion }} }}"
        second = f"b: entities(entityIds: [{_ids('q', 600)}]) {{ prediction {{ modelVersion }} }}"
        refused = await _query(client, f"{{ {first} {second} }}")
        text = (await client.get("/metrics")).text
        within = await _query(client, f"{{ {first} }}")
    messages = {error["message"] for error in refused["errors"]}
    assert any("more than 1000 predictions" in m for m in messages)
    assert metric(text, "converge_batch_rows_count") in (None, 0.0)
    assert len(within["data"]["a"]) == 600


async def test_internal_errors_are_masked_with_an_id_the_log_keeps(
    private_postgres: PrivatePostgres,
    private_registry: Registry,
    private_glm_champion: int,
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(private_registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        private_postgres.stop()
        # Features degrade to the default vector (test_graphql_fallbacks); the registry cannot.
        body = await _query(client, "{ models { version } }")
    message = body["errors"][0]["message"]
    match = re.fullmatch(r"internal error \(id ([0-9a-f]{12})\)", message)
    assert match, message
    assert "psycopg" not in message and "connection" not in message
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged and logged[0].levelno == logging.ERROR


@pytest.mark.parametrize("ide", [False, True])
async def test_graphiql_and_introspection_only_when_turned_on(
    ide: bool, registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path, graphql_ide=ide), settings) as (_, client):
        page = await client.get("/graphql", headers={"accept": "text/html"})
        schema = await _query(client, "{ __schema { queryType { name } } }")
    if ide:
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert schema["data"]["__schema"]["queryType"]["name"] == "Query"
    else:
        assert page.status_code == 404
        assert "introspection has been disabled" in schema["errors"][0]["message"]

"""validate_dataloader.py against the real schema and a scratch schema with a planted N+1."""

from __future__ import annotations

import os
from pathlib import Path

from tests.handmade_mojo import write_glm_mojo
from tests.scripts.conftest import REPO, StatsPostgres, run_script

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Entities listed by one resolver; each entity's feature count read with its own statement.
PLANTED_N_PLUS_ONE = '''
"""A scratch schema: `Entity.featureCount` reads the feature store once per entity (N+1)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from serving.config import ServingSettings
from serving.graphql.schema import Context
from shared.feature_store import latest_async


@strawberry.type
class Entity:
    entity_id: str

    @strawberry.field
    async def features(self, info: Info[Context, None]) -> str | None:
        row = await info.context.loaders.features.load(self.entity_id)
        return None if row is None else row.entity_id

    @strawberry.field
    async def feature_count(self, info: Info[Context, None]) -> int:
        async with info.context.state.pool.connection() as conn:
            return len(await latest_async(conn, [self.entity_id]))


@strawberry.type
class Query:
    @strawberry.field
    def entities(self, entity_ids: list[str]) -> list[Entity]:
        return [Entity(entity_id=entity_id) for entity_id in entity_ids]


def build_schema(cfg: ServingSettings) -> strawberry.Schema:
    return strawberry.Schema(query=Query)
'''


def _args(server: StatsPostgres, schema: Path, tmp_path: Path) -> list[str]:
    mojo = write_glm_mojo(tmp_path / "glm.zip")
    return ["--schema", str(schema), "--database-url", server.url, "--mojo", str(mojo),
            "--redis-url", REDIS_URL]  # fmt: skip


def test_the_real_schema_batches_every_list_field(
    stats_postgres: StatsPostgres, tmp_path: Path
) -> None:
    schema = REPO / "serving" / "graphql" / "schema.py"
    result = run_script("validate_dataloader.py", *_args(stats_postgres, schema, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "entities.features" in result.stdout
    assert "entities.prediction" in result.stdout
    assert "OK: no statement count grows with N" in result.stdout


def test_a_planted_n_plus_one_resolver_is_named(
    stats_postgres: StatsPostgres, tmp_path: Path
) -> None:
    schema = tmp_path / "planted_schema.py"
    schema.write_text(PLANTED_N_PLUS_ONE)
    result = run_script("validate_dataloader.py", *_args(stats_postgres, schema, tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "resolver Entity.featureCount runs statements per item" in result.stderr
    assert "Entity.features " not in result.stderr  # the batched field is not blamed


def test_a_server_without_pg_stat_statements_cannot_be_checked(
    database_url: str, tmp_path: Path
) -> None:
    schema = REPO / "serving" / "graphql" / "schema.py"
    mojo = write_glm_mojo(tmp_path / "glm.zip")
    result = run_script(
        "validate_dataloader.py", "--schema", str(schema), "--database-url", database_url,
        "--mojo", str(mojo), "--redis-url", REDIS_URL,
    )  # fmt: skip
    assert result.returncode == 2
    assert "pg_stat_statements" in result.stderr


def test_a_module_without_build_schema_is_refused(database_url: str, tmp_path: Path) -> None:
    schema = tmp_path / "not_a_schema.py"
    schema.write_text("VALUE = 1\n")
    mojo = write_glm_mojo(tmp_path / "glm.zip")
    result = run_script(
        "validate_dataloader.py", "--schema", str(schema), "--database-url", database_url,
        "--mojo", str(mojo),
    )  # fmt: skip
    assert result.returncode == 2
    assert "has no build_schema(cfg) function" in result.stderr


def test_help() -> None:
    result = run_script("validate_dataloader.py", "--help")
    assert result.returncode == 0
    assert "Seeding contract" in result.stdout or "--database-url" in result.stdout

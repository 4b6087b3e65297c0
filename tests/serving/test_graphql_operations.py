"""promote / rollback over GraphQL: an admin bearer token, run as the admin database role.

Serving runs as a real login user granted only converge_serving, the mutations as another granted
converge_admin. Without the configuration, without a token or with a wrong one, nothing changes;
with it the promotion is recorded with the admin user as actor and the token's name in the reason,
and serving swaps to the new champion on the NOTIFY, as after `converge registry promote`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from converge.cli import cli
from serving.config import ServingSettings
from shared.settings import Settings
from tests.conftest import ADMIN_URL
from tests.serving.client import running_app
from tests.serving.conftest import Registry, glm_mojo, serving_settings

TOKEN = "test-admin-token-" + uuid.uuid4().hex
TOKENS = {"ops-alice": hashlib.sha256(TOKEN.encode()).hexdigest()}
GLM_ROW = {"colour": "red", "size": 1.0}

LoginUrl = Callable[[str], tuple[str, str]]


@pytest.fixture
def login_url(database_url: str, settings_env: Callable[..., None]) -> Iterator[LoginUrl]:
    """login_url(role): (user, URL) of a new login user granted only `role`."""
    users: list[str] = []
    settings_env(DATABASE_URL=database_url)  # `converge db grant` runs as the owner

    def make(role: str) -> tuple[str, str]:
        user = f"{role}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(user)))
        users.append(user)
        result = CliRunner().invoke(cli, ["db", "grant", role, user])
        assert result.exit_code == 0, result.output
        info = psycopg.conninfo.conninfo_to_dict(database_url)
        info["user"] = user
        return user, "postgresql:///?" + urlencode(info)

    yield make
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        for user in users:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))


@pytest.fixture
def two_models(registry: Registry, tmp_path: Path) -> tuple[int, int]:
    """Two GLMs registered (as training would); the first promoted, the second not."""
    first = registry.register(glm_mojo(tmp_path, 1.0))
    second = registry.register(glm_mojo(tmp_path, 2.0))
    registry.promote(first)
    return first, second


@dataclass(frozen=True)
class RoleSetup:
    """A serving and an admin login user, and settings that give serving both URLs."""

    serving_user: str
    admin_user: str
    settings: Settings

    def without_admin_url(self) -> Settings:
        """The same settings with no admin database URL."""
        return self.settings.model_copy(update={"converge_admin_database_url": None})


@pytest.fixture
def roles(login_url: LoginUrl, registry: Registry, redis_url: str, tmp_path: Path) -> RoleSetup:
    """Serving as a user granted only converge_serving, mutations as one granted converge_admin."""
    serving_user, serving_url = login_url("converge_serving")
    admin_user, admin_url = login_url("converge_admin")
    settings = Settings(
        redis_url=redis_url,
        artifact_store_uri=registry.store_uri,
        converge_home=tmp_path / "home",
        converge_serving_database_url=serving_url,
        converge_admin_database_url=admin_url,
    )
    return RoleSetup(serving_user, admin_user, settings)


def _config(tmp_path: Path, **overrides: Any) -> ServingSettings:
    # Slow polling: a swap within seconds is the NOTIFY's doing.
    return serving_settings(tmp_path, model_poll_interval_s=30, **overrides)


async def _mutate(
    client: httpx.AsyncClient, operation: str, version: int, token: str | None = None
) -> dict[str, Any]:
    headers = {} if token is None else {"authorization": token}
    query = (
        f'mutation {{ {operation}(version: {version}, reason: "from the test") '
        "{ modelVersion previousVersion actor reason promotedAt } }"
    )
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _served(client: httpx.AsyncClient) -> int:
    response = await client.post("/v1/predict", json={"features": GLM_ROW})
    version: int = response.json()["model_version"]
    return version


def _promotions(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT model_version, actor, reason FROM model_promotions ORDER BY promotion_id"
        ).fetchall()


@pytest.mark.parametrize("configured", ["nothing", "tokens only", "admin url only"])
async def test_model_operations_are_off_unless_configured(
    configured: str,
    registry: Registry,
    two_models: tuple[int, int],
    roles: RoleSetup,
    tmp_path: Path,
) -> None:
    settings = roles.settings if configured == "admin url only" else roles.without_admin_url()
    tokens = TOKENS if configured == "tokens only" else {}
    before = _promotions(registry.database_url)
    async with running_app(_config(tmp_path, graphql_admin_tokens=tokens), settings) as (_, c):
        body = await _mutate(c, "promote", two_models[1], f"Bearer {TOKEN}")
    assert body["data"] is None
    assert body["errors"][0]["message"].startswith(
        "model operations are not enabled on this deployment"
    )
    assert _promotions(registry.database_url) == before


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer ", TOKEN]
)
async def test_a_missing_or_wrong_token_changes_nothing(
    authorization: str | None,
    registry: Registry,
    two_models: tuple[int, int],
    roles: RoleSetup,
    tmp_path: Path,
) -> None:
    first, second = two_models
    before = _promotions(registry.database_url)
    config = _config(tmp_path, graphql_admin_tokens=TOKENS)
    async with running_app(config, roles.settings) as (_, c):
        promoted = await _mutate(c, "promote", second, authorization)
        rolled = await _mutate(c, "rollback", first, authorization)
        await asyncio.sleep(0.5)
        served = await _served(c)
    for body in (promoted, rolled):
        assert body["data"] is None
        message = body["errors"][0]["message"]
        if authorization == "Bearer wrong-token":
            assert message == "the bearer token is not an admin token; nothing changed"
        else:
            assert "need an admin credential: Authorization: Bearer <token>" in message
    assert _promotions(registry.database_url) == before
    assert served == first


async def test_promote_and_rollback_by_token_record_the_actor_and_hot_swap(
    registry: Registry,
    two_models: tuple[int, int],
    roles: RoleSetup,
    tmp_path: Path,
) -> None:
    first, second = two_models
    serving_user, admin_user = roles.serving_user, roles.admin_user
    bearer = f"Bearer {TOKEN}"
    config = _config(tmp_path, graphql_admin_tokens=TOKENS)
    async with running_app(config, roles.settings) as (state, c):
        async with state.pool.connection() as conn:
            pool_user = await (await conn.execute("SELECT session_user")).fetchone()
        assert await _served(c) == first
        promoted = await _mutate(c, "promote", second, bearer)
        swapped_in = await _wait_for(c, second)
        again = await _mutate(c, "promote", second, bearer)  # already the champion
        unknown = await _mutate(c, "promote", 999, bearer)
        rolled = await _mutate(c, "rollback", first, bearer)
        swapped_back = await _wait_for(c, first)

    assert pool_user == (serving_user,)  # serving's own user stays read-only
    assert promoted["data"]["promote"]["modelVersion"] == second
    assert promoted["data"]["promote"]["previousVersion"] == first
    assert promoted["data"]["promote"]["actor"] == admin_user
    assert promoted["data"]["promote"]["reason"] == (
        "from the test (GraphQL, admin token 'ops-alice')"
    )
    assert swapped_in < 5 and swapped_back < 5
    assert again["errors"][0]["message"] == (
        f"model_version {second} is already the champion; nothing changed"
    )
    assert unknown["errors"][0]["message"] == "no model with model_version 999; nothing changed"
    assert rolled["data"]["rollback"]["reason"] == (
        f"rollback from {second}: from the test (GraphQL, admin token 'ops-alice')"
    )
    assert rolled["data"]["rollback"]["previousVersion"] == second
    recorded = _promotions(registry.database_url)
    assert [(v, actor) for v, actor, _ in recorded[1:]] == [
        (second, admin_user),
        (first, admin_user),
    ]


async def _wait_for(client: httpx.AsyncClient, version: int) -> float:
    started = time.monotonic()
    while await _served(client) != version:
        assert time.monotonic() - started < 10, f"model_version {version} never served"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def test_the_token_setting_takes_hashes_not_tokens() -> None:
    with pytest.raises(ValueError, match=r"graphql_admin_tokens\['ops'\] must be the SHA-256 hex"):
        ServingSettings(graphql_admin_tokens={"ops": TOKEN})
    with pytest.raises(ValueError, match="graphql_admin_tokens names must be non-empty"):
        ServingSettings(graphql_admin_tokens={" ": TOKENS["ops-alice"]})

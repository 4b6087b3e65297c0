"""Least privilege enforced by PostgreSQL: a real login user per component role, each forbidden
action actually attempted and refused by the server, each allowed one done."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from converge.cli import cli
from shared.feature_store import ingest_frame, latest
from shared.registry import current_champion, promote, register_model
from tests.conftest import ADMIN_URL
from tests.registry.factories import new_model

Connect = Callable[[str], psycopg.Connection[Any]]
DENIED = (psycopg.errors.InsufficientPrivilege,)


@pytest.fixture
def login_as(database_url: str, settings_env: Callable[..., None]) -> Iterator[Connect]:
    """connect(role): an autocommit connection as a new login user granted only `role`."""
    users: list[str] = []
    settings_env(DATABASE_URL=database_url)  # `converge db grant` runs as the owner

    def connect(role: str) -> psycopg.Connection[Any]:
        user = f"{role}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(user)))
        users.append(user)
        runner = CliRunner().invoke(cli, ["db", "grant", role, user])
        assert runner.exit_code == 0, runner.output
        info = psycopg.conninfo.conninfo_to_dict(database_url)
        info["user"] = user
        return psycopg.connect(psycopg.conninfo.make_conninfo(**info), autocommit=True)

    yield connect
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        for user in users:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """The owner's autocommit connection (migrations' user), to set up and check state."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


_MERGE_AS_OWNER = "SELECT gin_clean_pending_list('feature_store_dynamic_features_gin')"


def _refused(conn: psycopg.Connection[Any], statement: str, *params: object) -> None:
    with pytest.raises(DENIED):
        conn.execute(statement, params or None)


REGISTRY_ATTACKS = [
    "ALTER TABLE model_registry DISABLE TRIGGER model_registry_immutable",
    "UPDATE model_registry SET artifact_uri = 's3://evil/model.zip'",
    "DELETE FROM model_promotions",
    "DROP TABLE model_registry",
    "TRUNCATE model_promotions",
    "CREATE TABLE public.scratch (x int)",
    "INSERT INTO model_promotions (model_version, reason) VALUES (1, 'sneaky')",
]


@pytest.mark.parametrize("role", ["converge_serving", "converge_training", "converge_ingest"])
@pytest.mark.parametrize("attack", REGISTRY_ATTACKS)
def test_no_component_can_tamper_with_the_registry(
    role: str, attack: str, login_as: Connect, conn: psycopg.Connection[Any]
) -> None:
    record = register_model(conn, new_model())
    promote(conn, record.model_version, "first")
    with login_as(role) as component:
        _refused(component, attack)
    assert current_champion(conn) is not None  # nothing changed


def test_serving_reads_features_and_the_champion_and_nothing_more(
    login_as: Connect, conn: psycopg.Connection[Any]
) -> None:
    record = register_model(conn, new_model())
    promote(conn, record.model_version, "first")
    ingest_frame(conn, _features(), "entity_id", "event_timestamp", "test")
    with login_as("converge_serving") as serving:
        assert current_champion(serving) is not None
        assert latest(serving, ["e1"])["e1"] is not None
        serving.execute("LISTEN converge_champion")
        _refused(serving, "SELECT * FROM promote_model(%s, %s)", record.model_version, "x")
        _refused(serving, "INSERT INTO feature_store VALUES ('e9', now(), '{}')")
        _refused(serving, "SELECT * FROM ingest_quarantine")
        with pytest.raises(DENIED):
            register_model(serving, new_model())


def test_training_registers_but_cannot_promote(login_as: Connect) -> None:
    with login_as("converge_training") as training:
        record = register_model(training, new_model())
        assert record.model_version >= 1
        with pytest.raises(DENIED):
            promote(training, record.model_version, "self-promotion")
        _refused(training, "INSERT INTO feature_store VALUES ('e9', now(), '{}')")


def test_admin_promotes_through_the_function_that_records_who(
    login_as: Connect, conn: psycopg.Connection[Any]
) -> None:
    record = register_model(conn, new_model())
    with login_as("converge_admin") as admin:
        user = admin.execute("SELECT session_user").fetchone()
        champion = promote(admin, record.model_version, "weekly retrain")
        _refused(admin, "INSERT INTO model_promotions (model_version, reason) VALUES (%s, 'x')", 1)
        _refused(admin, "INSERT INTO feature_store VALUES ('e9', now(), '{}')")
    assert user is not None
    assert champion.actor == user[0]
    stored = current_champion(conn)
    assert stored is not None and stored.actor == user[0] and stored.reason == "weekly retrain"


def test_ingest_writes_features_and_the_latest_row_through_the_owner_trigger(
    login_as: Connect, conn: psycopg.Connection[Any]
) -> None:
    with login_as("converge_ingest") as ingest:
        summary = ingest_frame(ingest, _features(), "entity_id", "event_timestamp", "test")
        _refused(ingest, "UPDATE feature_latest SET dynamic_features = '{}'")
        with pytest.raises(DENIED):
            register_model(ingest, new_model())
    assert summary.rows_written == 2
    assert latest(conn, ["e1"])["e1"] is not None


def test_only_ingest_merges_the_index_pending_list_and_only_through_the_function(
    login_as: Connect, conn: psycopg.Connection[Any]
) -> None:
    with login_as("converge_ingest") as ingest:
        second = partial(psycopg.connect, ingest.info.dsn)
        ingest_frame(
            ingest, _features(), "entity_id", "event_timestamp", "t", second_connection=second
        )
        assert conn.execute(_MERGE_AS_OWNER).fetchone() == (0,)  # the ingest left nothing pending
        _refused(ingest, _MERGE_AS_OWNER)
    for role in ("converge_serving", "converge_training", "converge_admin"):
        with login_as(role) as other:
            _refused(other, "SELECT merge_feature_index_pending()")


def test_grant_names_an_unknown_user_or_role(
    database_url: str, settings_env: Callable[..., None]
) -> None:
    settings_env(DATABASE_URL=database_url)
    unknown = CliRunner().invoke(cli, ["db", "grant", "converge_serving", "nobody_here"])
    assert unknown.exit_code == 1
    assert 'role "nobody_here" does not exist' in unknown.output
    bad_role = CliRunner().invoke(cli, ["db", "grant", "superuser", "x"])
    assert bad_role.exit_code == 2
    assert "converge_serving" in bad_role.output


def _features() -> pd.DataFrame:
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    return pd.DataFrame(
        {"entity_id": ["e1", "e2"], "event_timestamp": [stamp, stamp], "age": [30, 41]}
    )

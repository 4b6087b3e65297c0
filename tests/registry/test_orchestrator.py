"""Each model version records the orchestrator that registered it; PostgreSQL enforces the set."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from shared.db.migrate import upgrade
from shared.registry import get_model, list_models, register_model
from tests.registry.factories import new_model

Conn = psycopg.Connection[Any]


@pytest.mark.parametrize("orchestrator", ["dagster", "mage", "cli"])
def test_the_orchestrator_is_stored_and_read_back(conn: Conn, orchestrator: str) -> None:
    version = register_model(conn, new_model(orchestrator=orchestrator)).model_version
    assert get_model(conn, version).orchestrator == orchestrator


def test_an_unknown_orchestrator_is_refused_before_the_database() -> None:
    with pytest.raises(ValidationError, match="orchestrator"):
        new_model(orchestrator="airflow")


def test_the_database_refuses_a_row_without_or_with_an_unknown_orchestrator(conn: Conn) -> None:
    columns = "artifact_uri, artifact_sha256, git_commit_sha, h2o_version, algo, feature_list"
    values = "'file:///m.zip', repeat('a', 64), 'x', '3.46.0.11', 'gbm', '[\"a\"]'"
    with pytest.raises(psycopg.errors.NotNullViolation):
        conn.execute(f"INSERT INTO model_registry ({columns}) VALUES ({values})")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            f"INSERT INTO model_registry ({columns}, orchestrator) VALUES ({values}, 'airflow')"
        )
    assert list_models(conn) == []


def test_versions_registered_before_the_column_read_unrecorded(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0003")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO model_registry (artifact_uri, artifact_sha256, git_commit_sha, "
            "h2o_version, algo, feature_list) VALUES "
            "('file:///m.zip', repeat('b', 64), 'x', '3.46.0.11', 'gbm', '[\"a\"]')"
        )
    upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        assert [m.orchestrator for m in list_models(conn)] == ["unrecorded"]

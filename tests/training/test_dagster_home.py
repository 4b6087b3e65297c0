"""The Dagster instance in PostgreSQL: URL translation, database creation, pool limit."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster._core.instance.config import PoolGranularity
from psycopg import sql

from resources.dagster_home import (
    STORAGE_URL_ENV,
    ensure_database,
    psycopg2_url,
    render_instance_yaml,
)
from resources.run_queue import PromptQueuedRunCoordinator
from resources.training_policy import TRAINING_POOL
from tests.training.conftest import TrainingEnvironment


@pytest.mark.parametrize(
    ("libpq", "sqlalchemy"),
    [
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg%20data",
            "postgresql+psycopg2://postgres@/postgres?host=/tmp/pg%20data",
        ),
        (
            "postgresql:///?host=127.0.0.1&port=5432&user=postgres&dbname=db1",
            "postgresql+psycopg2://postgres@127.0.0.1:5432/db1",
        ),
        (
            "postgresql://u:p%40ss@db.example:5433/conv?sslmode=require",
            "postgresql+psycopg2://u:p%40ss@db.example:5433/conv?sslmode=require",
        ),
    ],
)
def test_psycopg2_url_keeps_sockets_credentials_and_params(libpq: str, sqlalchemy: str) -> None:
    assert psycopg2_url(libpq) == sqlalchemy


def test_instance_runs_on_postgres_with_queue_and_pool(
    training_environment: TrainingEnvironment,
) -> None:
    instance = training_environment.instance
    config = yaml.safe_load((training_environment.dagster_home / "dagster.yaml").read_text())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": STORAGE_URL_ENV}
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    # Dagster's queue, which also wakes `python -m assets.daemon`'s run queue (test_daemon.py).
    assert type(instance.run_coordinator) is PromptQueuedRunCoordinator
    # The admitted training runs are launched side by side, not one after another.
    assert instance.run_coordinator.dequeue_use_threads
    assert instance.run_coordinator.dequeue_num_workers == 2
    pools = instance.get_concurrency_config().pool_config
    assert pools.pool_granularity == PoolGranularity.RUN
    assert pools.default_pool_limit == 2
    instance.event_log_storage.set_concurrency_slots(TRAINING_POOL, 3)
    assert instance.event_log_storage.get_concurrency_info(TRAINING_POOL).slot_count == 3


def test_ensure_database_is_idempotent(training_environment: TrainingEnvironment) -> None:
    url = training_environment.env["DATABASE_URL"]
    name = f"converge_dagster_{uuid.uuid4().hex[:12]}"
    dagster_url = ensure_database(url, name)
    try:
        assert ensure_database(url, name) == dagster_url
        with psycopg.connect(dagster_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_pool_limit_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pool limit must be at least 1"):
        render_instance_yaml(tmp_path, "postgresql://postgres@localhost/x", pool_limit=0)


def test_the_instance_file_holds_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STORAGE_URL_ENV, raising=False)
    url = "postgresql://dagster:s3cr%21t@db.example:5432/dagster"
    written = render_instance_yaml(tmp_path, url, pool_limit=2)
    assert "s3cr" not in written.read_text()
    assert (
        os.environ[STORAGE_URL_ENV]
        == "postgresql+psycopg2://dagster:s3cr%21t@db.example:5432/dagster"
    )

"""Fixtures for the training graph: a Dagster instance in PostgreSQL and the environment of runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance
from psycopg import sql

from assets.daemon import running_daemon, wait_until_iterating
from resources.dagster_home import ensure_database, render_instance_yaml
from tests.conftest import ADMIN_URL

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPOSITORY_ROOT / "workspace.yaml"


@dataclass(frozen=True)
class TrainingEnvironment:
    """A Dagster home and the variables that point runs at the test's databases and stores."""

    dagster_home: Path
    instance: DagsterInstance
    env: dict[str, str]


def make_dagster_instance(home: Path, pool_limit: int) -> tuple[DagsterInstance, str]:
    """A PostgreSQL-backed instance in a fresh database; returns it and the database name."""
    name = f"dagster_test_{uuid.uuid4().hex[:12]}"
    url = ensure_database(ADMIN_URL, name)
    render_instance_yaml(home, url, pool_limit=pool_limit)
    return DagsterInstance.from_config(str(home)), name


def drop_database(name: str) -> None:
    """Drop a database created by a fixture."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def training_environment(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TrainingEnvironment]:
    """An instance (pool limit 2) plus DATABASE_URL/ARTIFACT_STORE_URI set here and for runs."""
    home = tmp_path / "dagster"
    instance, name = make_dagster_instance(home, pool_limit=2)
    env = {
        "DATABASE_URL": database_url,
        "ARTIFACT_STORE_URI": (tmp_path / "artifacts").as_uri(),
        "CONVERGE_HOME": str(tmp_path / "converge"),
        "DAGSTER_HOME": str(home),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield TrainingEnvironment(home, instance, env)
    finally:
        instance.dispose()
        drop_database(name)


@contextmanager
def iterating_daemon(
    environment: TrainingEnvironment, log_path: Path, *daemon_types: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The environment's `dagster-daemon`, once each of `daemon_types` has begun iterating."""
    started = time.time()
    with running_daemon(environment.dagster_home, WORKSPACE, environment.env, log_path) as daemon:
        for daemon_type in daemon_types:
            wait_until_iterating(environment.instance, daemon_type, since=started)
        yield daemon


CONVERGE = str(Path(sys.executable).with_name("converge"))


@pytest.fixture
def demo_env(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Variables pointing the demo at the test database, a temp home and its own Dagster DB."""
    dagster_database = f"dagster_demo_{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CONVERGE_HOME": str(tmp_path / "home"),
        "CONVERGE_DAGSTER_DATABASE": dagster_database,
    }
    env.pop("ARTIFACT_STORE_URI", None)
    yield env
    drop_database(dagster_database)


def demo_with(
    env: dict[str, str], tmp_path: Path, matrix: str, entities: int
) -> subprocess.CompletedProcess[str]:
    """`converge demo --configs <matrix written to a file> --entities N`."""
    configs = tmp_path / "configs.yaml"
    configs.write_text(matrix)
    return demo(env, "--configs", str(configs), "--entities", str(entities))


def demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`converge demo ARGS` in a subprocess with `env`, as a user runs it."""
    return subprocess.run(
        [CONVERGE, "demo", *args],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )

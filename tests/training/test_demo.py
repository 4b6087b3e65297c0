"""`converge demo` as a user runs it: a subprocess, against the test's PostgreSQL and H2O."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from shared.registry import current_champion
from tests.training.conftest import REPOSITORY_ROOT, drop_database

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


def _demo_with(
    env: dict[str, str], tmp_path: Path, matrix: str, entities: int
) -> subprocess.CompletedProcess[str]:
    configs = tmp_path / "configs.yaml"
    configs.write_text(matrix)
    return _demo(env, "--configs", str(configs), "--entities", str(entities))


def _demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONVERGE, "demo", *args],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_demo_refuses_a_task_larger_than_the_node(demo_env: dict[str, str]) -> None:
    done = _demo(demo_env, "--node-memory", "4g", "--task-memory", "8g")
    assert done.returncode == 1
    assert "demo failed: one training needs" in done.stderr
    assert "no training fits" in done.stderr


@pytest.mark.h2o
def test_demo_exits_non_zero_naming_the_failed_step(
    h2o_cluster: Any, demo_env: dict[str, str], tmp_path: Path
) -> None:
    done = _demo_with(demo_env, tmp_path, "catboost:\n  depth: [4]\n", entities=200)
    assert done.returncode == 1, done.stdout
    assert "demo failed: prepare_training_job failed: model_configs" in done.stderr
    assert "unknown algorithm 'catboost'" in done.stderr
    assert "ingesting features and labels" in done.stdout  # progress was shown before


@pytest.mark.h2o
def test_demo_trains_and_registers_a_champion_with_env_set(
    h2o_cluster: Any, demo_env: dict[str, str], tmp_path: Path
) -> None:
    matrix = "glm:\n  family: binomial\n  alpha: [0.1, 0.9]\n"
    done = _demo_with(demo_env, tmp_path, matrix, entities=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"using the H2O cluster at {os.environ['H2O_URL']}" in out
    assert "| rank | config | algo | auc |" in out
    assert "Champion: glm-alpha0." in out
    assert "converge ui" in out
    with psycopg.connect(demo_env["DATABASE_URL"]) as conn:
        champion = current_champion(conn)
    assert champion is not None
    assert champion.model.algo == "glm"
    assert f"model_version {champion.model.model_version}" in out
    assert (tmp_path / "home" / "artifacts").is_dir()

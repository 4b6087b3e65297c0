"""`converge demo` as a user runs it: a subprocess, against the test's PostgreSQL and H2O."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from resources.dagster_home import STORAGE_URL_ENV, psycopg2_url
from shared.registry import current_champion
from tests.training.conftest import demo, demo_with


def test_demo_refuses_a_task_larger_than_the_node(demo_env: dict[str, str]) -> None:
    done = demo(demo_env, "--node-memory", "4g", "--task-memory", "8g")
    assert done.returncode == 1
    assert "demo failed: one training needs" in done.stderr
    assert "no training fits" in done.stderr


@pytest.mark.h2o
def test_demo_exits_non_zero_naming_the_failed_step(
    h2o_cluster: Any, demo_env: dict[str, str], tmp_path: Path
) -> None:
    done = demo_with(demo_env, tmp_path, "catboost:\n  depth: [4]\n", entities=200)
    assert done.returncode == 1, done.stdout
    assert "demo failed: prepare_training_job failed: model_configs" in done.stderr
    assert "unknown algorithm 'catboost'" in done.stderr
    assert "ingesting features and labels" in done.stdout  # progress was shown before


@pytest.mark.h2o
def test_demo_trains_and_registers_a_champion_with_env_set(
    h2o_cluster: Any, demo_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = "glm:\n  family: binomial\n  alpha: [0.1, 0.9]\n"
    done = demo_with(demo_env, tmp_path, matrix, entities=300)
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
    # A clean demo's first ingest is the drift baseline: the UI shows the drift check passed.
    dagster_db = psycopg.conninfo.make_conninfo(
        demo_env["DATABASE_URL"], dbname=demo_env["CONVERGE_DAGSTER_DATABASE"]
    )
    monkeypatch.setenv(STORAGE_URL_ENV, psycopg2_url(dagster_db))
    instance = DagsterInstance.from_config(str(tmp_path / "home" / "dagster"))
    try:
        key = AssetCheckKey(AssetKey("features"), "features_drift")
        record = instance.get_latest_asset_check_evaluation_record(key)
    finally:
        instance.dispose()
    assert record is not None and record.evaluation is not None
    assert record.evaluation.passed, record.evaluation.metadata
    assert record.evaluation.metadata["baseline"].value is True

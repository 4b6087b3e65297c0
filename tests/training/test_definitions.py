"""The code location loads as `dagster dev` would load it, with the graph the design asks for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from assets.definitions import defs
from tests.training.conftest import REPOSITORY_ROOT, WORKSPACE


def test_dagster_definitions_validate_passes_for_workspace_yaml(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(WORKSPACE)],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_asset_graph_lineage_pool_and_partitions() -> None:
    graph = defs.resolve_asset_graph()
    candidate = graph.get(AssetKey("candidate_model"))
    assert candidate.pools == {"h2o_training"}
    assert candidate.backfill_policy is not None
    assert candidate.backfill_policy.max_partitions_per_run == 5  # 9 shipped configs, N = 2
    assert candidate.partitions_def is not None
    assert candidate.partitions_def.name == "model_configs"  # type: ignore[attr-defined]
    # The frame reads the features from PostgreSQL: a dependency without a value, for lineage.
    assert graph.get(AssetKey("training_frame")).parent_keys == {
        AssetKey("labels"),
        AssetKey("features"),
    }
    assert candidate.parent_keys == {AssetKey("training_frame"), AssetKey("model_configs")}
    # The training frame: the champion rescores challenger and incumbent on its validation split.
    assert graph.get(AssetKey("champion_model")).parent_keys == {
        AssetKey("candidate_model"),
        AssetKey("training_frame"),
    }
    assert {s.name for s in defs.schedules or []} == {"daily_features", "weekly_retraining"}
    assert {s.name for s in defs.sensors or []} == {
        "new_feature_rows_sensor",
        "candidate_fanout_sensor",
        "champion_automation_sensor",
    }


def test_groups_are_the_stages_of_training() -> None:
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "features": "ingest",
        "labels": "ingest",
        "training_frame": "prepare",
        "model_configs": "prepare",
        "candidate_model": "train",
        "champion_model": "select",
    }

"""The Mage pipeline against the Dagster path: same data and matrix, same champion and metrics.

Both run as a user runs them (`converge demo`, `converge mage run`), on the test's database and
H2O cluster. The matrix is larger than the concurrency limit (N = floor(8g / 4g) = 2), so Mage's
training blocks must queue; one config fails in both paths and the champion comes from the rest.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from converge.mage.runner import MageRunReport, max_concurrent
from shared.registry import ModelRecord, list_models
from tests.training.conftest import CONVERGE, REPOSITORY_ROOT, demo_with

LIMIT = 2
ENTITIES = 300
FAILING = "drf"  # ntrees -1: H2O refuses it
MATRIX = """\
glm:
  family: binomial
  alpha: [0.1, 0.5, 0.9]
  seed: 1
gbm:
  ntrees: 5
  max_depth: [2, 3]
  seed: 1
drf:
  ntrees: -1
"""


def mage_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`converge mage run ARGS` in a subprocess with `env`, as a user runs it."""
    return subprocess.run(
        [CONVERGE, "mage", "run", *args],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def mage_report(home: Path) -> MageRunReport:
    """The report of the one Mage run under CONVERGE_HOME `home`."""
    from converge.mage.runner import BlockRun

    (path,) = home.glob("mage-runs/*/mage-report.json")
    raw: dict[str, Any] = json.loads(path.read_text())
    return MageRunReport(raw["status"], [BlockRun(**block) for block in raw["block_runs"]])


def registered(url: str, orchestrator: str) -> ModelRecord:
    """The one model version registered by `orchestrator`."""
    with psycopg.connect(url) as conn:
        (model,) = [m for m in list_models(conn) if m.orchestrator == orchestrator]
    return model


def utilization(intervals: list[tuple[float, float]], slots: int) -> float:
    """Busy slot time over `slots` x the span from the first start to the last end."""
    span = max(end for _, end in intervals) - min(start for start, _ in intervals)
    return sum(end - start for start, end in intervals) / (slots * span)


def described(intervals: list[tuple[float, float]]) -> str:
    """Span, mean slot time per config and utilization of a fan-out's trainings (for the docs)."""
    span = max(end for _, end in intervals) - min(start for start, _ in intervals)
    mean = sum(end - start for start, end in intervals) / len(intervals)
    return (
        f"{len(intervals)} configs in {span:.1f} s, {mean:.1f} s per config, "
        f"utilization {utilization(intervals, LIMIT):.2f} of N={LIMIT}"
    )


def dagster_intervals(
    env: dict[str, str], names: list[str], monkeypatch: pytest.MonkeyPatch
) -> list[tuple[float, float]]:
    """(training start, MOJO stored) of each Dagster candidate, from the demo's instance."""
    from dagster import DagsterInstance

    from assets.leaderboard import latest_candidates
    from resources.dagster_home import STORAGE_URL_ENV, psycopg2_url
    from shared.db.connection import with_database
    from tests.conftest import ADMIN_URL

    database = with_database(ADMIN_URL, env["CONVERGE_DAGSTER_DATABASE"])
    monkeypatch.setenv(STORAGE_URL_ENV, psycopg2_url(database))
    home = Path(env["CONVERGE_HOME"])
    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        found = latest_candidates(instance, names)
    finally:
        instance.dispose()
    return [(c.training_started_at, c.candidate_finished_at) for c in found.values()]


def test_max_concurrent_counts_overlaps_and_frees_a_slot_before_reuse() -> None:
    assert max_concurrent([]) == 0
    assert max_concurrent([(0, 2), (1, 3), (2, 4)]) == 2  # the third starts as the first ends
    assert max_concurrent([(0, 5), (1, 2), (1.5, 3)]) == 3


@pytest.mark.h2o
def test_mage_and_dagster_register_the_same_champion_with_equal_metrics(
    h2o_cluster: Any, demo_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    dagster = demo_with(demo_env, tmp_path, MATRIX, entities=ENTITIES)
    dagster_seconds = time.monotonic() - started
    assert dagster.returncode == 0, dagster.stdout + dagster.stderr
    assert f"Failed candidates: {FAILING}" in dagster.stdout

    configs = tmp_path / "configs.yaml"  # the file demo_with wrote
    started = time.monotonic()
    mage = mage_run(demo_env, "--configs", str(configs), "--entities", str(ENTITIES))
    mage_seconds = time.monotonic() - started
    assert mage.returncode == 0, mage.stdout + mage.stderr

    from_dagster = registered(demo_env["DATABASE_URL"], "dagster")
    from_mage = registered(demo_env["DATABASE_URL"], "mage")
    name = from_dagster.training_config["config_name"]
    assert from_mage.training_config["config_name"] == name
    mage_config, dagster_config = (
        dict(from_mage.training_config),
        dict(from_dagster.training_config),
    )
    mage_board, dagster_board = mage_config.pop("leaderboard"), dagster_config.pop("leaderboard")
    assert mage_config == dagster_config
    assert [(e["rank"], e["config_name"]) for e in mage_board] == [
        (e["rank"], e["config_name"]) for e in dagster_board
    ]
    for ours, theirs in zip(mage_board, dagster_board, strict=True):
        assert ours["metrics"].keys() == theirs["metrics"].keys()
        for key, value in ours["metrics"].items():
            assert value == pytest.approx(theirs["metrics"][key], abs=1e-9)
    assert from_mage.metrics.keys() == from_dagster.metrics.keys()
    for metric, value in from_dagster.metrics.items():
        assert math.isclose(from_mage.metrics[metric], value, rel_tol=0, abs_tol=1e-9), metric
    assert f"Champion: {name} (auc " in mage.stdout
    assert "orchestrator mage" in mage.stdout
    assert "| rank | config | algo | auc |" in mage.stdout

    # Mage's own record of its block runs: every config had a block, never more than N at once.
    report = mage_report(Path(demo_env["CONVERGE_HOME"]))
    training = report.training_runs()
    assert len(training) == 6 > LIMIT
    intervals = [(b.started_at, b.completed_at) for b in training]
    assert all(start is not None and end is not None for start, end in intervals), training
    assert max_concurrent(intervals) == LIMIT  # type: ignore[arg-type]

    # The failing config fails visibly, naming itself and H2O's reason; the reducer still ran.
    failures = report.block("candidate_failures")
    assert failures.status == "failed"
    assert failures.error is not None
    assert f"1 of 6 configs failed: {FAILING}: " in failures.error
    assert "H2O refused to train" in failures.error
    assert report.block("select_champion").status == "completed"
    failed_line = f"Failed candidates: FailedCandidatesError: 1 of 6 configs failed: {FAILING}: "
    assert failed_line in mage.stdout
    assert report.status == "failed"  # Mage's run status says a block failed

    # The figures of docs/mage.md (printed; measured on whatever load the machine has).
    trained = [b.block_uuid.split(":", 1)[1] for b in training if b.status == "completed"]
    trained.remove(FAILING)  # its child completed, returning its error
    mage_busy = [(s, e) for s, e in intervals if s is not None and e is not None]
    dagster_busy = dagster_intervals(demo_env, trained, monkeypatch)
    print(f"\nfigures: dagster demo {dagster_seconds:.0f} s, {described(dagster_busy)}")
    print(f"figures: mage run {mage_seconds:.0f} s, {described(mage_busy)}")


@pytest.mark.h2o
def test_a_run_that_outlives_its_timeout_fails_naming_the_unfinished_blocks(
    h2o_cluster: Any, demo_env: dict[str, str], tmp_path: Path
) -> None:
    configs = tmp_path / "configs.yaml"
    configs.write_text(MATRIX)
    done = mage_run(demo_env, "--configs", str(configs), "--entities", "100", "--timeout", "1")
    assert done.returncode == 1, done.stdout
    assert "mage run failed: timed out; blocks not finished: " in done.stderr
    assert "select_champion (initial)" in done.stderr
    assert "timed out after 1 s; not finished:" in done.stdout


@pytest.mark.h2o
def test_a_bad_matrix_fails_the_loader_block_naming_the_problem(
    h2o_cluster: Any, demo_env: dict[str, str], tmp_path: Path
) -> None:
    configs = tmp_path / "configs.yaml"
    configs.write_text("catboost:\n  depth: [4]\n")
    done = mage_run(demo_env, "--configs", str(configs), "--entities", "100")
    assert done.returncode == 1, done.stdout
    assert "block select_champion did not complete (upstream_failed)" in done.stderr
    assert "failed blocks: training_matrix: ConvergeStepError: " in done.stderr
    assert "unknown algorithm 'catboost'" in done.stderr

"""The training graph end to end on real H2O, PostgreSQL and dagster-daemon (BA-PROC-04/05/06).

Seven configs are fanned out as one asset backfill under a pool limit of 2: six valid ones and one
with an invalid hyperparameter. Two configs per run (CONVERGE_CONFIGS_PER_RUN) make four runs for
two slots, so the pool must hold two runs back; the champion follows through its automation
condition. One pipeline run is shared by the assertions below (module fixture).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    RunsFilter,
)
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.partition_status_cache import AssetPartitionStatus
from psycopg import sql

from assets.daemon import running_daemon
from assets.leaderboard import CandidateResult, latest_candidates
from assets.model_configs import model_config_partitions
from assets.pipeline import PipelineResult, train_all
from resources.environments import CONFIGS_PER_RUN_ENV
from shared.artifacts import open_artifact_store
from shared.db.connection import with_database
from shared.mojo import load_mojo
from shared.registry import current_champion, list_models
from shared.versions import pinned_versions
from tests.conftest import ADMIN_URL
from tests.training.conftest import WORKSPACE, drop_database, make_dagster_instance

pytestmark = pytest.mark.h2o

BROKEN = "glm-alpha_1"
# glm alpha -1 is outside H2O's [0, 1]: H2O refuses it when training starts.
MATRIX = """
gbm:
  ntrees: 8
  seed: 1
  max_depth: [2, 4]
  learn_rate: [0.1, 0.3]
drf:
  ntrees: 8
  seed: 1
  max_depth: [6]
glm:
  family: binomial
  alpha: [0.5, -1]
"""


@dataclass(frozen=True)
class FanOut:
    """What the shared pipeline run left behind."""

    result: PipelineResult
    candidates: dict[str, CandidateResult]
    instance: DagsterInstance
    database_url: str
    artifact_store_uri: str


@pytest.fixture(scope="module")
def fanout(
    h2o_cluster: Any,
    migrated_template: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FanOut]:
    """Run the whole graph once with seven configs, two per run, and a training pool limit of 2."""
    tmp = tmp_path_factory.mktemp("fanout")
    name = f"converge_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(migrated_template)
            )
        )
    url = with_database(ADMIN_URL, name)
    matrix = tmp / "model_configs.yaml"
    matrix.write_text(MATRIX)
    home = tmp / "dagster"
    instance, dagster_db = make_dagster_instance(home, pool_limit=2)
    env = {
        "DATABASE_URL": url,
        "ARTIFACT_STORE_URI": (tmp / "artifacts").as_uri(),
        "CONVERGE_HOME": str(tmp / "converge"),
        "CONVERGE_MODEL_CONFIGS": str(matrix),
        "DAGSTER_HOME": str(home),
        CONFIGS_PER_RUN_ENV: "2",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        try:
            with running_daemon(home, WORKSPACE, env, tmp / "daemon.log"):
                result = train_all(
                    instance,
                    pool_limit=2,
                    features_config={"demo_entities": 1200},
                    timeout_seconds=900,
                )
            candidates = latest_candidates(instance, result.candidates.trained)
            yield FanOut(result, candidates, instance, url, env["ARTIFACT_STORE_URI"])
        finally:
            instance.dispose()
            drop_database(dagster_db)
            drop_database(name)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def test_max_overlap_counts_concurrent_intervals() -> None:
    assert max_overlap([(0, 2), (1, 3), (2.5, 4)]) == 2
    assert max_overlap([(0, 1), (1, 2)]) == 1  # an end before a start at the same instant
    assert max_overlap([(0, 5), (1, 4), (2, 3)]) == 3


def test_four_runs_cover_the_matrix_and_only_the_broken_config_fails(fanout: FanOut) -> None:
    instance = fanout.instance
    runs = instance.get_runs(RunsFilter.for_backfill(fanout.result.backfill_id))
    assert len(runs) == 4  # 7 configs, 2 per run
    statuses = sorted(run.status.value for run in runs)
    assert statuses == ["FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"]
    backfill = instance.get_backfill(fanout.result.backfill_id)
    assert backfill is not None
    assert backfill.status == BulkActionStatus.COMPLETED_FAILED
    assert len(fanout.result.candidates.trained) == 6
    assert BROKEN not in fanout.result.candidates.trained
    assert set(fanout.candidates) == set(fanout.result.candidates.trained)


def test_the_broken_partition_is_failed_and_the_others_materialized(fanout: FanOut) -> None:
    keys = [*fanout.result.candidates.trained, BROKEN]
    status = fanout.instance.get_status_by_partition(
        AssetKey("candidate_model"), keys, model_config_partitions
    )
    assert status is not None
    assert status[BROKEN] == AssetPartitionStatus.FAILED
    assert {status[key] for key in fanout.result.candidates.trained} == {
        AssetPartitionStatus.MATERIALIZED
    }


@dataclass(frozen=True)
class RunSlot:
    """When a fan-out run entered the queue, was launched into a pool slot, and ended."""

    enqueued: float
    launched: float
    ended: float


def run_slots(fanout: FanOut) -> list[RunSlot]:
    """Each run's queue and slot times, from its Dagster event log and run record."""
    slots = []
    for run_id in fanout.result.run_ids:
        record = fanout.instance.get_run_record_by_id(run_id)
        assert record is not None
        assert record.end_time is not None
        (enqueued,) = fanout.instance.all_logs(run_id, of_type=DagsterEventType.RUN_ENQUEUED)
        (launched,) = fanout.instance.all_logs(run_id, of_type=DagsterEventType.RUN_STARTING)
        slots.append(RunSlot(enqueued.timestamp, launched.timestamp, record.end_time))
    return slots


def test_runs_beyond_the_pool_limit_wait_in_the_queue_for_a_slot(fanout: FanOut) -> None:
    slots = run_slots(fanout)
    assert len(slots) == 4
    # Queued before another run of the fan-out ended, launched only once it had: without the pool
    # limit (20 runs may run at once) all four would be launched a tick after they were queued.
    waited = [
        run
        for run in slots
        if any(run.enqueued < other.ended <= run.launched for other in slots if other is not run)
    ]
    assert len(waited) >= 2, slots


def test_no_more_than_two_trainings_overlap(fanout: FanOut) -> None:
    candidates = fanout.candidates.values()
    busy = [(c.training_started_at, c.candidate_finished_at) for c in candidates]
    assert len(busy) == 6
    assert max_overlap(busy) <= 2
    # A run holds its pool slot from the moment the daemon launches it (RUN_STARTING, before its
    # process even exists) until it ends: those spans must never exceed the limit either.
    assert max_overlap([(run.launched, run.ended) for run in run_slots(fanout)]) <= 2


def test_broken_config_fails_with_h2o_reason(fanout: FanOut) -> None:
    failures = fanout.result.candidates.failures
    assert list(failures) == [BROKEN]
    assert failures[BROKEN].startswith(f"CandidateTrainingError: config {BROKEN}: H2O refused")
    assert "alpha" in failures[BROKEN]
    (failed_run,) = [
        run_id
        for run_id in fanout.result.run_ids
        if fanout.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    ]
    (step_failure,) = fanout.instance.all_logs(failed_run, of_type=DagsterEventType.STEP_FAILURE)
    assert step_failure.dagster_event is not None
    error = step_failure.dagster_event.step_failure_data.user_failure_data
    assert error is not None
    assert error.description is not None
    assert error.description.startswith("1 of ")
    assert f"configs failed:\n- {BROKEN}: CandidateTrainingError" in error.description


def test_champion_is_best_by_auc_and_registered(fanout: FanOut) -> None:
    top_auc = max(c.metrics["auc"] for c in fanout.candidates.values())
    expected = min(
        (c for c in fanout.candidates.values() if c.metrics["auc"] == top_auc),
        key=lambda c: c.config_name,
    )
    champion = fanout.result.champion  # the automation-launched run's metadata
    assert champion["config_name"] == expected.config_name
    assert champion["promoted"] is True
    assert champion["candidates"] == 6
    assert champion["failed_or_missing"] == [BROKEN]
    with psycopg.connect(fanout.database_url) as conn:
        current = current_champion(conn)
        models = list_models(conn)
    assert current is not None
    assert [m.model_version for m in models] == [current.model.model_version]
    record = current.model
    assert record.artifact_sha256 == expected.artifact_sha256
    assert record.h2o_version == pinned_versions().h2o_version
    assert record.h2o_version_matches
    assert len(record.git_commit_sha) >= 40
    assert record.metrics["auc"] == expected.metrics["auc"]
    assert record.training_config["config_name"] == expected.config_name
    # The fan-out's leaderboard travels with the champion (GraphQL's Model.leaderboard reads it).
    board = record.training_config["leaderboard"]
    assert [entry["rank"] for entry in board] == list(range(1, 7))
    assert board[0]["config_name"] == expected.config_name
    assert {entry["config_name"] for entry in board} == set(fanout.candidates)
    assert record.orchestrator == "dagster"


def test_champion_artifact_loads_in_jvm_free_runtime(fanout: FanOut, tmp_path: Path) -> None:
    with psycopg.connect(fanout.database_url) as conn:
        current = current_champion(conn)
    assert current is not None
    store = open_artifact_store(fanout.artifact_store_uri)
    path = store.fetch_verified(current.model.artifact_uri, current.model.artifact_sha256, tmp_path)
    model = load_mojo(path)
    assert model.algo in {"gbm", "drf", "glm"}
    assert set(current.model.feature_list) <= set(model.columns)

"""How the fan-out is launched and waited for: policy, sensor request, backfill, champion wait."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterRunStatus,
    RunsFilter,
    SkipReason,
    build_sensor_context,
)
from dagster._core.execution.backfill import BulkActionStatus

from assets.automation import candidate_fanout_sensor
from assets.daemon import running_daemon, wait_until_iterating
from assets.definitions import defs
from assets.fanout import (
    FanoutWaitTimeoutError,
    candidate_backfill_policy,
    launch_candidate_backfill,
    partitions_per_run,
    wait_for_backfill,
)
from assets.jobs import champion_job
from assets.leaderboard import CANDIDATE_ASSET
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from assets.pipeline import PipelineStepError, run_in_process, train_all, wait_for_champion
from resources.environments import CONFIGS_PER_RUN_ENV, get_training_policy
from resources.h2o import H2O_URL_ENV
from resources.training_policy import MODEL_CONFIGS_ENV, TrainingPolicy
from shared.net import free_port
from tests.training.conftest import WORKSPACE, TrainingEnvironment, iterating_daemon

CONFIGS = ["gbm-a", "gbm-b", "glm-c"]


def test_partitions_per_run_covers_the_matrix_with_the_pool_limit() -> None:
    assert partitions_per_run(50, 2) == 25
    assert partitions_per_run(7, 2) == 4
    assert partitions_per_run(1, 4) == 1
    assert partitions_per_run(0, 2) == 1
    with pytest.raises(ValueError, match="pool limit must be at least 1"):
        partitions_per_run(6, 0)


def test_backfill_policy_splits_the_matrix_into_pool_limit_runs(tmp_path: Path) -> None:
    matrix = tmp_path / "configs.yaml"
    matrix.write_text("gbm:\n  max_depth: [2, 3, 4, 5, 6]\n")
    policy = TrainingPolicy(model_configs_path=str(matrix), node_memory="12g", task_memory="4g")
    assert candidate_backfill_policy(policy).max_partitions_per_run == 2  # ceil(5 / 3)


def test_configs_per_run_sets_the_size_of_every_run(tmp_path: Path) -> None:
    matrix = tmp_path / "configs.yaml"
    matrix.write_text("gbm:\n  max_depth: [2, 3, 4, 5, 6]\n")
    policy = TrainingPolicy(model_configs_path=str(matrix), configs_per_run=1)
    assert candidate_backfill_policy(policy).max_partitions_per_run == 1  # 5 runs for 2 slots


def test_configs_per_run_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_training_policy().configs_per_run is None
    monkeypatch.setenv(CONFIGS_PER_RUN_ENV, " 3 ")
    assert get_training_policy().configs_per_run == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_configs_per_run_refuses_what_is_not_a_positive_whole_number(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIGS_PER_RUN_ENV, value)
    expected = rf"CONVERGE_CONFIGS_PER_RUN='{re.escape(value)}': expected a whole number >= 1"
    with pytest.raises(ValueError, match=expected):
        get_training_policy()


def test_unreadable_matrix_falls_back_to_one_config_per_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    matrix = tmp_path / "configs.yaml"
    matrix.write_text("catboost:\n  depth: [4]\n")
    policy = TrainingPolicy(model_configs_path=str(matrix))
    with caplog.at_level(logging.WARNING, logger="assets.fanout"):
        assert candidate_backfill_policy(policy).max_partitions_per_run == 1
    assert "unknown algorithm 'catboost'" in caplog.text


def test_sensor_requests_one_backfill_after_model_configs_materialized(
    training_environment: TrainingEnvironment,
) -> None:
    instance = training_environment.instance
    context = build_sensor_context(instance=instance, definitions=defs)
    assert isinstance(candidate_fanout_sensor(context), SkipReason)

    instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, CONFIGS)
    instance.report_runless_asset_event(AssetMaterialization("model_configs"))
    data = candidate_fanout_sensor.evaluate_tick(context)
    (request,) = data.run_requests or []
    assert request.asset_graph_subset is not None
    subset = request.asset_graph_subset.partitions_subsets_by_asset_key[CANDIDATE_ASSET]
    assert set(subset.get_partition_keys()) == set(CONFIGS)

    again = build_sensor_context(instance=instance, definitions=defs, cursor=data.cursor)
    skipped = candidate_fanout_sensor(again)
    assert isinstance(skipped, SkipReason)
    assert "no model_configs materialization after" in str(skipped.skip_message)


def test_launched_backfill_targets_the_partitions_and_wait_times_out_without_daemon(
    training_environment: TrainingEnvironment,
) -> None:
    instance = training_environment.instance
    instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, CONFIGS)
    backfill_id = launch_candidate_backfill(instance, CONFIGS[:2])
    backfill = instance.get_backfill(backfill_id)
    assert backfill is not None
    assert backfill.status == BulkActionStatus.REQUESTED
    target = backfill.asset_backfill_data.target_subset  # type: ignore[union-attr]
    assert target.asset_keys == {CANDIDATE_ASSET}
    keys = target.partitions_subsets_by_asset_key[CANDIDATE_ASSET].get_partition_keys()
    assert set(keys) == set(CONFIGS[:2])
    with pytest.raises(FanoutWaitTimeoutError, match=f"backfill {backfill_id} is REQUESTED"):
        wait_for_backfill(instance, backfill_id, timeout_seconds=0.2, poll_seconds=0.1)


def test_the_daemon_picks_a_new_backfill_up_within_seconds(
    training_environment: TrainingEnvironment, tmp_path: Path
) -> None:
    """Dagster's backfill daemon sleeps 30 s between iterations; `assets.daemon`'s sleeps 1 s."""
    instance = training_environment.instance
    # Dagster fails an empty backfill at its first iteration ("At least one run should be
    # requested"): the moment it leaves REQUESTED is the moment the daemon picked it up.
    with iterating_daemon(training_environment, tmp_path / "daemon.log", "BACKFILL"):
        # Picked up at the next iteration; the one after it comes a moment later.
        first = launch_candidate_backfill(instance, [])
        wait_for_backfill(instance, first, timeout_seconds=300, poll_seconds=0.1)
        second = launch_candidate_backfill(instance, [])
        started = time.monotonic()
        outcome = wait_for_backfill(instance, second, timeout_seconds=10, poll_seconds=0.1)
        picked_up = time.monotonic() - started
    assert outcome.status == BulkActionStatus.FAILED
    assert picked_up < 10


def test_waiting_for_a_daemon_that_is_not_running_times_out(
    training_environment: TrainingEnvironment,
) -> None:
    expected = r"dagster-daemon's BACKFILL did not start within 0\.3 s"
    with pytest.raises(TimeoutError, match=expected):
        wait_until_iterating(training_environment.instance, "BACKFILL", time.time(), 0.3)


def test_wait_for_champion_names_the_cause_of_a_failed_champion_run(
    training_environment: TrainingEnvironment,
) -> None:
    instance = training_environment.instance
    instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, CONFIGS)
    since = time.time() - 1
    with pytest.raises(PipelineStepError):
        run_in_process(instance, champion_job)  # no training frame, no candidate
    with pytest.raises(
        PipelineStepError, match=r"champion_model failed in run .*FileNotFoundError.*training_frame"
    ):
        wait_for_champion(instance, since, timeout_seconds=5)


def test_wait_for_champion_times_out_when_no_champion_run_comes(
    training_environment: TrainingEnvironment,
) -> None:
    with pytest.raises(FanoutWaitTimeoutError, match="champion_automation_sensor"):
        wait_for_champion(training_environment.instance, time.time(), 0.2, poll_seconds=0.1)


def test_champion_follows_fanouts_through_its_automation_sensor() -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("champion_model")).automation_condition is not None
    sensor = defs.resolve_sensor_def("champion_automation_sensor")
    assert sensor.default_status.value == "RUNNING"


def test_a_fanout_that_trained_no_config_fails_naming_the_cause(
    training_environment: TrainingEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = tmp_path / "configs.yaml"
    matrix.write_text("glm:\n  family: binomial\n  alpha: [0.2, 0.8]\n")
    unreachable = f"http://127.0.0.1:{free_port()}"  # every run fails to connect to H2O
    env = {**training_environment.env, MODEL_CONFIGS_ENV: str(matrix), H2O_URL_ENV: unreachable}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = training_environment.dagster_home
    with (
        running_daemon(home, WORKSPACE, env, tmp_path / "daemon.log"),
        pytest.raises(PipelineStepError) as raised,
    ):
        train_all(
            training_environment.instance,
            pool_limit=2,
            features_config={"demo_entities": 300},
            progress=lambda message: None,
            timeout_seconds=300,
        )
    message = str(raised.value)
    matched = re.match(r"candidate fan-out \(backfill (\w+)\) trained none of 2 configs: ", message)
    assert matched is not None, message
    runs = training_environment.instance.get_runs(RunsFilter.for_backfill(matched.group(1)))
    assert [run.status for run in runs] == [DagsterRunStatus.FAILURE] * 2  # one config per run
    # The run-wide cause is named once, not once per config.
    assert message.count(f"Could not establish link to the H2O cloud {unreachable}") == 1

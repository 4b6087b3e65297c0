"""The whole training graph on an instance: prepare in-process, fan candidates out, pick a champion.

Features, training frame and config matrix run in this process (recorded in the instance like any
run). The candidates are one asset backfill (`assets.fanout`): its policy packs the configs into
about N runs, which the `h2o_training` pool admits N at a time. The champion is then materialized
by its automation condition, as after a sensor-started fan-out; this waits for that run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    ExecuteInProcessResult,
    RunsFilter,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster_shared.error import SerializableErrorInfo

from assets.candidates import FAILED_CONFIGS
from assets.definitions import defs
from assets.fanout import (
    FINISHED_RUN_STATUSES,
    FanoutWaitTimeoutError,
    candidate_backfill_policy,
    launch_candidate_backfill,
    wait_for_backfill,
)
from assets.jobs import champion_job, features_job, prepare_training_job
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from resources.dagster_home import set_training_pool_limit
from resources.environments import get_training_policy

Progress = Callable[[str], None]
CHAMPION_ASSET = AssetKey("champion_model")


class PipelineStepError(RuntimeError):
    """A step of the training graph failed; the message names the step and the cause."""


@dataclass(frozen=True)
class CandidateOutcome:
    """Which configs of a fan-out were trained and why the others were not."""

    trained: list[str]
    failures: dict[str, str]


@dataclass(frozen=True)
class PipelineResult:
    """The fan-out backfill, its runs, each config's outcome, and the champion's metadata."""

    backfill_id: str
    run_ids: list[str]
    candidates: CandidateOutcome
    champion: dict[str, Any]


def root_cause(error: SerializableErrorInfo) -> str:
    """The user error under Dagster's wrappers, as `Type: message`."""
    while (error.cls_name or "").startswith("Dagster") and error.cause is not None:
        error = error.cause
    return f"{error.cls_name}: {error.message.strip()}"


def run_in_process(
    instance: DagsterInstance,
    job: UnresolvedAssetJobDefinition,
    run_config: Mapping[str, Any] | None = None,
) -> ExecuteInProcessResult:
    """Execute an unpartitioned asset job in this process; a failure names the failing step.

    The console shows warnings and errors only; every event still goes to the instance (the UI).
    """
    quiet_console = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = defs.resolve_job_def(job.name).execute_in_process(
        instance=instance, run_config={**quiet_console, **(run_config or {})}, raise_on_error=False
    )
    if not result.success:
        failures = [
            f"{event.step_key}: {root_cause(event.step_failure_data.error)}"
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data.error is not None
        ]
        raise PipelineStepError(f"{job.name} failed: {'; '.join(failures) or 'see the run logs'}")
    return result


def candidate_outcome(
    instance: DagsterInstance, run_ids: Sequence[str], partitions: Sequence[str]
) -> CandidateOutcome:
    """Configs materialized by `run_ids`, and {config: reason} for every other partition.

    A training step names its failed configs in its failure metadata; a run that failed otherwise
    (H2O unreachable, a crash) gives its error to every config it did not train.
    """
    trained: set[str] = set()
    named: dict[str, str] = {}
    causes: list[str] = []
    kinds = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.STEP_FAILURE}
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=kinds):
            event = entry.dagster_event
            if event is None:
                continue
            if event.is_step_materialization and event.partition is not None:
                trained.add(event.partition)
            elif event.is_step_failure:
                failure = event.step_failure_data
                metadata = failure.user_failure_data.metadata if failure.user_failure_data else {}
                if FAILED_CONFIGS in metadata:
                    named.update(metadata[FAILED_CONFIGS].value)  # type: ignore[arg-type]
                elif failure.error is not None:
                    causes.append(root_cause(failure.error))
    other = "; ".join(causes) or "not trained by any run of the fan-out (see the backfill)"
    failures = {p: named.get(p, other) for p in partitions if p not in trained}
    return CandidateOutcome(trained=[p for p in partitions if p in trained], failures=failures)


def wait_for_champion(
    instance: DagsterInstance, since: float, timeout_seconds: float, poll_seconds: float = 1.0
) -> dict[str, Any]:
    """The metadata of the first champion materialization in a run created after `since`.

    Raises PipelineStepError naming the cause when that run fails instead.
    """
    deadline = time.monotonic() + timeout_seconds
    created_after = datetime.fromtimestamp(since, UTC)
    while True:
        # Automation runs select the asset; champion_job's runs (e.g. started by hand) count too.
        runs = [
            run
            for run in instance.get_runs(RunsFilter(created_after=created_after))
            if CHAMPION_ASSET in (run.asset_selection or ()) or run.job_name == champion_job.name
        ]
        for run in sorted(runs, key=lambda r: r.run_id):
            if run.status == DagsterRunStatus.SUCCESS:
                (entry,) = instance.all_logs(
                    run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
                )
                materialization = entry.asset_materialization
                if materialization is None:
                    raise LookupError(f"champion run {run.run_id} recorded no materialization")
                return {key: value.value for key, value in materialization.metadata.items()}
            if run.status in FINISHED_RUN_STATUSES:
                failures = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
                causes = [
                    root_cause(e.dagster_event.step_failure_data.error)
                    for e in failures
                    if e.dagster_event and e.dagster_event.step_failure_data.error
                ]
                raise PipelineStepError(
                    f"champion_model failed in run {run.run_id}: "
                    f"{'; '.join(causes) or run.status.value}"
                )
        if time.monotonic() > deadline:
            raise FanoutWaitTimeoutError(
                f"no champion_model run finished within {timeout_seconds:.0f} s after the fan-out; "
                "is dagster-daemon running with champion_automation_sensor on?"
            )
        time.sleep(poll_seconds)


def train_all(
    instance: DagsterInstance,
    pool_limit: int,
    features_config: Mapping[str, Any] | None = None,
    progress: Progress = print,
    timeout_seconds: float = 1800,
) -> PipelineResult:
    """Materialize features, training frame, configs, every candidate (a backfill), the champion.

    `dagster-daemon` must be running against the same instance: it runs the backfill, admits its
    runs within the pool limit and evaluates the champion's automation condition.
    """
    progress("ingesting features and labels")
    config = {"ops": {"ingest_features": {"config": dict(features_config or {})}}}
    run_in_process(instance, features_job, config)
    progress("building the point-in-time training frame and the config matrix")
    run_in_process(instance, prepare_training_job)
    partitions = list(instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS))
    set_training_pool_limit(instance, pool_limit)
    # What the code location computed from the same environment when it loaded.
    per_run = candidate_backfill_policy(get_training_policy()).max_partitions_per_run
    launched = time.time()
    backfill_id = launch_candidate_backfill(instance, partitions)
    progress(
        f"launched backfill {backfill_id}: {len(partitions)} candidate configs, up to {per_run} "
        f"per run, pool h2o_training limit {pool_limit}"
    )

    def report(run_id: str, status: DagsterRunStatus) -> None:
        progress(f"  candidate run {run_id[:8]}: {status.value.lower()}")

    outcome = wait_for_backfill(instance, backfill_id, timeout_seconds, on_run_change=report)
    candidates = candidate_outcome(instance, outcome.run_ids, partitions)
    for partition, message in candidates.failures.items():
        progress(f"  candidate {partition} failed: {message.splitlines()[0]}")
    if not candidates.trained:
        # A run-wide cause (H2O unreachable) is the same for every config: named once.
        causes = sorted({message.splitlines()[0] for message in candidates.failures.values()})
        raise PipelineStepError(
            f"candidate fan-out (backfill {backfill_id}) trained none of {len(partitions)} "
            f"configs: {'; '.join(causes)}"
        )
    progress(f"{len(candidates.trained)} candidates trained; waiting for champion_model")
    champion = wait_for_champion(instance, launched, timeout_seconds)
    return PipelineResult(
        backfill_id=backfill_id,
        run_ids=outcome.run_ids,
        candidates=candidates,
        champion=champion,
    )

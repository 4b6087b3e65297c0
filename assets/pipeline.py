"""The whole training graph on an instance: prepare in-process, fan candidates out, pick a champion.

Features, training frame and config matrix run in this process (recorded in the instance like any
run); the candidates go through the run queue, one run per config partition, so the `h2o_training`
pool limits how many train at once; the champion runs in-process once they all finished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, ExecuteInProcessResult
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster_shared.error import SerializableErrorInfo

from assets.definitions import defs
from assets.jobs import candidate_job, champion_job, features_job, prepare_training_job
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from assets.run_queue import submit_partition_runs, wait_for_runs, workspace_context
from resources.dagster_home import set_training_pool_limit

Progress = Callable[[str], None]


class PipelineStepError(RuntimeError):
    """A step of the training graph failed; the message names the step and the cause."""


@dataclass(frozen=True)
class PipelineResult:
    """Run ids and statuses of the candidates, and the champion asset's output."""

    candidate_runs: dict[str, str]
    candidate_status: dict[str, DagsterRunStatus]
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


def candidate_failures(instance: DagsterInstance, run_ids: Mapping[str, str]) -> dict[str, str]:
    """{partition: error message} for candidate runs whose step failed."""
    from dagster import DagsterEventType

    failures: dict[str, str] = {}
    for partition, run_id in run_ids.items():
        records = instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
        for entry in records:
            event = entry.dagster_event
            if event is not None and event.step_failure_data.error is not None:
                failures[partition] = root_cause(event.step_failure_data.error)
    return failures


def train_all(
    instance: DagsterInstance,
    workspace: Path,
    pool_limit: int,
    features_config: Mapping[str, Any] | None = None,
    progress: Progress = print,
    timeout_seconds: float = 1800,
) -> PipelineResult:
    """Materialize features, training frame, configs, every candidate (queued) and the champion.

    `dagster-daemon` must be running against the same instance while this waits for candidates.
    """
    progress("ingesting features and labels")
    config = {"ops": {"ingest_features": {"config": dict(features_config or {})}}}
    run_in_process(instance, features_job, config)
    progress("building the point-in-time training frame and the config matrix")
    run_in_process(instance, prepare_training_job)
    partitions = list(instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS))
    set_training_pool_limit(instance, pool_limit)
    progress(f"queueing {len(partitions)} candidate runs (pool h2o_training, limit {pool_limit})")
    with workspace_context(instance, workspace) as request:
        runs = submit_partition_runs(instance, request, candidate_job.name, partitions)
    by_run = {run_id: partition for partition, run_id in runs.items()}

    def report(run_id: str, status: DagsterRunStatus) -> None:
        progress(f"  candidate {by_run[run_id]}: {status.value.lower()}")

    statuses = wait_for_runs(instance, list(runs.values()), timeout_seconds, on_change=report)
    for partition, message in candidate_failures(instance, runs).items():
        progress(f"  candidate {partition} failed: {message.splitlines()[0]}")
    progress("selecting the champion")
    result = run_in_process(instance, champion_job)
    return PipelineResult(
        candidate_runs=runs,
        candidate_status={by_run[run_id]: status for run_id, status in statuses.items()},
        champion=result.output_for_node("champion_model"),
    )

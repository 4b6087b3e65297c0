"""Submit one run per partition to the instance's run queue and wait for them to finish.

Runs are created from the code location loaded through workspace.yaml (as `dagster job launch`
does) and handed to the QueuedRunCoordinator; `dagster-daemon` starts them as pool slots free up.
Submitting directly skips the backfill daemon's ~27 s before the first run is queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

LOCATION = "converge"
PARTITION_TAG = "dagster/partition"
FINISHED = frozenset(
    {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
)


class RunWaitTimeoutError(TimeoutError):
    """Runs were still unfinished when the wait ran out; the message lists them."""


@contextmanager
def workspace_context(
    instance: DagsterInstance, workspace: Path
) -> Iterator[WorkspaceRequestContext]:
    """The code location of `workspace` (a code server process while the block runs)."""
    target = WorkspaceFileTarget(paths=[str(workspace)])
    with WorkspaceProcessContext(instance, target) as process_context:
        request = process_context.create_request_context()
        errors = request.code_location_errors()
        if errors:
            raise RuntimeError(f"cannot load {workspace}: {errors[0].to_string()}")
        yield request


def submit_partition_runs(
    instance: DagsterInstance,
    request: WorkspaceRequestContext,
    job_name: str,
    partition_keys: Sequence[str],
    tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Queue one run of `job_name` per partition key; returns {partition: run_id}."""
    location = request.get_code_location(LOCATION)
    (repository,) = location.get_repositories().values()
    selector = JobSubsetSelector(
        location_name=LOCATION,
        repository_name=repository.name,
        job_name=job_name,
        op_selection=None,
    )
    remote_job = location.get_job(selector)
    plan = location.get_execution_plan(
        remote_job, {}, step_keys_to_execute=None, known_state=None, instance=instance
    ).execution_plan_snapshot
    runs: dict[str, str] = {}
    for key in partition_keys:
        run = instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config={},
            resolved_op_selection=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**remote_job.tags, **(tags or {}), PARTITION_TAG: key},
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repository.asset_graph,
        )
        instance.submit_run(run.run_id, request)
        runs[key] = run.run_id
    return runs


def wait_for_runs(
    instance: DagsterInstance,
    run_ids: Sequence[str],
    timeout_seconds: float,
    on_change: Callable[[str, DagsterRunStatus], None] | None = None,
    poll_seconds: float = 1.0,
) -> dict[str, DagsterRunStatus]:
    """Poll until every run finished; calls `on_change(run_id, status)` on each status change."""
    deadline = time.monotonic() + timeout_seconds
    seen: dict[str, DagsterRunStatus] = {}
    while True:
        for run_id in run_ids:
            run = instance.get_run_by_id(run_id)
            if run is None:
                raise LookupError(f"run {run_id} vanished from the instance")
            if seen.get(run_id) != run.status:
                seen[run_id] = run.status
                if on_change is not None:
                    on_change(run_id, run.status)
        if all(status in FINISHED for status in seen.values()):
            return seen
        if time.monotonic() > deadline:
            pending = {rid: s.value for rid, s in seen.items() if s not in FINISHED}
            raise RunWaitTimeoutError(f"runs unfinished after {timeout_seconds:.0f} s: {pending}")
        time.sleep(poll_seconds)

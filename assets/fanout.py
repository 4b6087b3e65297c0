"""The candidate fan-out: one asset backfill of `candidate_model` over the config partitions.

The backfill policy makes each run train several configs back to back, so the `h2o_training` pool's
N slots are covered by about N runs and a run's start-up (process, imports, H2O connection, frame
upload) is paid once per run instead of once per config; `TrainingPolicy.configs_per_run` sets the
configs per run instead (more runs than slots: the pool queues the rest). The sensor and `converge
demo` both launch the fan-out as this backfill; the backfill daemon splits it into runs and the
pool admits them.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dagster import BackfillPolicy, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.execution.backfill import (
    BULK_ACTION_TERMINAL_STATUSES,
    BulkActionStatus,
    PartitionBackfill,
)

from assets.leaderboard import CANDIDATE_ASSET
from assets.model_configs import ModelConfigError, load_model_configs, model_config_partitions
from resources.training_policy import TrainingPolicy

FINISHED_RUN_STATUSES = frozenset(
    {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
)
log = logging.getLogger(__name__)


class FanoutWaitTimeoutError(TimeoutError):
    """The fan-out was still running when the wait ran out; the message says what was left."""


def partitions_per_run(configs: int, pool_limit: int) -> int:
    """Configs per run so that `pool_limit` runs cover all `configs`: ceil(configs / limit)."""
    if pool_limit < 1:
        raise ValueError(f"pool limit must be at least 1, got {pool_limit}")
    return max(1, math.ceil(configs / pool_limit))


def candidate_backfill_policy(policy: TrainingPolicy) -> BackfillPolicy:
    """Runs of `configs_per_run` configs; unset: the matrix split into `concurrency_limit()` runs.

    Read when the code location loads. An unreadable matrix must not take the whole code location
    down (`model_configs` fails on it with the file and entry named), so it falls back to Dagster's
    default of one config per run, with a warning.
    """
    if policy.configs_per_run is not None:
        return BackfillPolicy.multi_run(policy.configs_per_run)
    try:
        configs = len(load_model_configs(policy.configs_path()))
    except ModelConfigError as exc:
        log.warning(
            "candidate backfill policy: one config per run, the matrix is unusable: %s", exc
        )
        return BackfillPolicy.multi_run(1)
    return BackfillPolicy.multi_run(partitions_per_run(configs, policy.concurrency_limit()))


def candidate_subset(partition_keys: Sequence[str]) -> AssetGraphSubset:
    """The candidate partitions of a fan-out, as the target of an asset backfill."""
    subset = model_config_partitions.empty_subset().with_partition_keys(partition_keys)
    # The serdes decorator hides the NamedTuple's defaults from mypy.
    return AssetGraphSubset(  # type: ignore[call-arg]
        partitions_subsets_by_asset_key={CANDIDATE_ASSET: subset}, non_partitioned_asset_keys=set()
    )


def launch_candidate_backfill(
    instance: DagsterInstance, partition_keys: Sequence[str], tags: Mapping[str, str] | None = None
) -> str:
    """Add the fan-out backfill to `instance` (as a sensor's request does); returns its id."""
    backfill_id = uuid.uuid4().hex[:8]
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags=dict(tags or {}),
            dynamic_partitions_store=instance,
            asset_graph_subset=candidate_subset(partition_keys),
            title=f"candidate fan-out ({len(partition_keys)} configs)",
            description=None,
            run_config=None,
        )
    )
    return backfill_id


@dataclass(frozen=True)
class FanoutOutcome:
    """How a fan-out backfill ended and the runs it launched."""

    status: BulkActionStatus
    run_ids: list[str]


def wait_for_backfill(
    instance: DagsterInstance,
    backfill_id: str,
    timeout_seconds: float,
    on_run_change: Callable[[str, DagsterRunStatus], None] | None = None,
    poll_seconds: float = 1.0,
) -> FanoutOutcome:
    """Poll until the backfill reached a terminal status and all of its runs finished."""
    deadline = time.monotonic() + timeout_seconds
    seen: dict[str, DagsterRunStatus] = {}
    while True:
        backfill = instance.get_backfill(backfill_id)
        if backfill is None:
            raise LookupError(f"backfill {backfill_id} vanished from the instance")
        for run in instance.get_runs(RunsFilter.for_backfill(backfill_id)):
            if seen.get(run.run_id) != run.status:
                seen[run.run_id] = run.status
                if on_run_change is not None:
                    on_run_change(run.run_id, run.status)
        runs_done = all(status in FINISHED_RUN_STATUSES for status in seen.values())
        if backfill.status in BULK_ACTION_TERMINAL_STATUSES and runs_done:
            return FanoutOutcome(status=backfill.status, run_ids=sorted(seen))
        if time.monotonic() > deadline:
            pending = {rid: s.value for rid, s in seen.items() if s not in FINISHED_RUN_STATUSES}
            raise FanoutWaitTimeoutError(
                f"backfill {backfill_id} is {backfill.status.value} after {timeout_seconds:.0f} s; "
                f"unfinished runs: {pending}"
            )
        time.sleep(poll_seconds)

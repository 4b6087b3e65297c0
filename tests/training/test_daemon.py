"""`python -m assets.daemon`: its run queue dequeues a queued run at once, its storage holds
its PostgreSQL connections. Both replace private names of Dagster (`assets.daemon.main`): these
tests run the real daemon, so an upgrade that stops reading them fails here."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
from dagster import DagsterEventType, RunsFilter
from psycopg.conninfo import conninfo_to_dict

from assets.fanout import launch_candidate_backfill, wait_for_backfill
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from tests.conftest import ADMIN_URL
from tests.training.conftest import TrainingEnvironment, iterating_daemon

# The tests' server: the one on this machine, or the embedded one on a free port (local_services).
POSTGRES_PORT = int(conninfo_to_dict(ADMIN_URL).get("port") or 5432)
# Far longer than a run takes to be queued and launched: a run that waited for the queue's tick
# would start about a minute after it was queued.
SLOW_DEQUEUE_SECONDS = 60
CONNECTION_SAMPLES = 10


def slow_run_queue(home: Path) -> None:
    """Make the instance's run queue look for queued runs every SLOW_DEQUEUE_SECONDS."""
    config = home / "dagster.yaml"
    text = config.read_text()
    assert "dequeue_interval_seconds: 1\n" in text
    config.write_text(
        text.replace(
            "dequeue_interval_seconds: 1\n", f"dequeue_interval_seconds: {SLOW_DEQUEUE_SECONDS}\n"
        )
    )


def test_a_run_the_backfill_queues_starts_without_waiting_for_the_queue_tick(
    training_environment: TrainingEnvironment, tmp_path: Path
) -> None:
    instance = training_environment.instance
    slow_run_queue(training_environment.dagster_home)
    instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, ["gbm-a"])
    # The run queue's first iteration comes at start; the next one a minute later.
    log = tmp_path / "daemon.log"
    with iterating_daemon(training_environment, log, "QUEUED_RUN_COORDINATOR", "BACKFILL"):
        backfill_id = launch_candidate_backfill(instance, ["gbm-a"])
        # The run fails (no training frame was built): only its launch matters here.
        wait_for_backfill(instance, backfill_id, timeout_seconds=300, poll_seconds=0.2)
    (run,) = instance.get_runs(RunsFilter.for_backfill(backfill_id))
    (queued,) = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_ENQUEUED)
    (starting,) = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_STARTING)
    assert starting.timestamp - queued.timestamp < SLOW_DEQUEUE_SECONDS / 4


def postgres_connections(pid: int) -> int:
    """TCP connections process `pid` has open to PostgreSQL."""
    return sum(
        1
        for connection in psutil.Process(pid).net_connections(kind="tcp")
        if connection.raddr and connection.raddr.port == POSTGRES_PORT
    )


def test_the_daemon_holds_its_storage_connections(
    training_environment: TrainingEnvironment, tmp_path: Path
) -> None:
    log = tmp_path / "daemon.log"
    with iterating_daemon(training_environment, log, "BACKFILL") as daemon:
        counts = []
        for _ in range(CONNECTION_SAMPLES):
            counts.append(postgres_connections(daemon.pid))
            time.sleep(0.2)
    # Dagster's NullPool closes each connection after its query: between queries none is open.
    assert min(counts) >= 1, counts

"""Run `dagster-daemon` while a block runs: it starts queued runs within the pool limits.

`python -m assets.daemon run ...` is `dagster-daemon run ...` with the backfill daemon looking for
work every BACKFILL_INTERVAL_SECONDS instead of Dagster's fixed 30 s: a new fan-out backfill (50
configs of ~0.5 s each at N = 2: ~15 s of work) waited up to 30 s for its runs. Dagster 1.13 has no
setting for that interval (dagster-io/dagster#11649; PR #11860 proposed 2 s while backfills are
active), so it is set on the module the backfill loop reads it from when the daemon starts. Its
only other reader is the asset daemon's path without sensors, unused here (the champion follows
champion_automation_sensor). The run queue's interval is `dequeue_interval_seconds` in
dagster.yaml; its daemon here is `resources.run_queue`'s, which also dequeues as soon as a run is
queued in this process (the backfill daemon's runs) instead of waiting for that interval's tick.
The code server it starts for the workspace is `assets.code_server`'s, which starts the runs'
processes from a preloaded forkserver instead of a new interpreter each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from dagster import DagsterInstance
from dagster._daemon.controller import create_daemon_of_type as dagster_create_daemon_of_type
from dagster._daemon.controller import daemon_controller_from_instance as dagster_daemon_controller
from dagster._daemon.daemon import DagsterDaemon
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from resources.run_queue import PromptRunQueueDaemon

BACKFILL_INTERVAL_SECONDS = 1
STOP_TIMEOUT_SECONDS = 30
# Launching a run asks the code server over gRPC; under load the default 60 s deadline is missed.
GRPC_TIMEOUT_SECONDS = "300"
# Dagster's PostgreSQL storage opens a new connection for every query (NullPool): connecting was 77%
# of the backfill daemon's busy time while it submitted a fan-out's runs (sampled stacks). The
# daemon holds them as dagster-webserver does (one per storage, overflow beyond it), with the
# webserver's recycle and overflow defaults and no statement timeout (Dagster's daemon has none).
STATEMENT_TIMEOUT_MS = 0
POOL_RECYCLE_SECONDS = 3600
POOL_MAX_OVERFLOW = 20


def _daemon_command() -> list[str]:
    # This interpreter's environment, whatever PATH says.
    return [sys.executable, "-m", "assets.daemon", "run"]


@contextmanager
def running_daemon(
    dagster_home: Path, workspace: Path, env: Mapping[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `dagster-daemon run -w workspace` with DAGSTER_HOME and `env`; stop it on exit."""
    environment = {
        "DAGSTER_GRPC_TIMEOUT_SECONDS": GRPC_TIMEOUT_SECONDS,
        **os.environ,
        **env,
        "DAGSTER_HOME": str(dagster_home),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*_daemon_command(), "-w", str(workspace)],
            cwd=workspace.parent,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own process group: stopping it also stops the code server it spawned.
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until_iterating(
    instance: DagsterInstance, daemon_type: str, since: float, timeout_seconds: float = 300
) -> None:
    """Block until `daemon_type` (e.g. BACKFILL) of a daemon started after `since` has iterated.

    A daemon writes its first heartbeat when its first iteration begins. A start-up (loading the
    code location) takes seconds to a minute, which a benchmark must not count as the pickup.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        beat = instance.get_daemon_heartbeats().get(daemon_type)
        if beat is not None and beat.timestamp >= since:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"dagster-daemon's {daemon_type} did not start within {timeout_seconds} s"
            )
        time.sleep(0.2)


def code_server_entry_point(executable_path: str) -> list[str]:
    """The command the daemon starts its code server with, before `api grpc ...`."""
    return [executable_path, "-m", "assets.code_server"]


def create_daemon_of_type(daemon_type: str, instance: DagsterInstance) -> DagsterDaemon[Any]:
    """Dagster's daemon of `daemon_type`; the run queue's is `PromptRunQueueDaemon`."""
    if daemon_type == QueuedRunCoordinatorDaemon.daemon_type():
        interval = instance.run_coordinator.dequeue_interval_seconds  # type: ignore[attr-defined]
        return PromptRunQueueDaemon(interval_seconds=interval)
    return dagster_create_daemon_of_type(daemon_type, instance)


def pooled_daemon_controller(
    instance: DagsterInstance, *args: Any, **kwargs: Any
) -> AbstractContextManager[Any]:
    """Dagster's daemon controller, on `instance` with its storage connections pooled."""
    instance.optimize_for_webserver(STATEMENT_TIMEOUT_MS, POOL_RECYCLE_SECONDS, POOL_MAX_OVERFLOW)
    return dagster_daemon_controller(instance, *args, **kwargs)


def main() -> None:
    """`dagster-daemon`'s command line, with the intervals, run queue and code server above."""
    from dagster._daemon import cli, controller
    from dagster._grpc import server

    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_INTERVAL_SECONDS
    # The one reader of it is the function that builds the daemons of an instance.
    controller.create_daemon_of_type = create_daemon_of_type
    # The one reader of it is the command that builds the controller from the CLI's instance.
    cli.daemon_controller_from_instance = pooled_daemon_controller  # type: ignore[attr-defined,assignment]
    # The one reader of it is the function that starts a workspace's code server process.
    server.get_python_environment_entry_point = code_server_entry_point  # type: ignore[attr-defined]
    cli.main()


if __name__ == "__main__":
    main()

"""Run `dagster-daemon` while a block runs: it starts queued runs within the pool limits.

`python -m assets.daemon run ...` is `dagster-daemon run ...` with the backfill daemon looking for
work every BACKFILL_INTERVAL_SECONDS instead of Dagster's fixed 30 s: a new fan-out backfill (50
configs of ~0.5 s each at N = 2: ~15 s of work) waited up to 30 s for its runs. Dagster 1.13 has no
setting for that interval (dagster-io/dagster#11649; PR #11860 proposed 2 s while backfills are
active), so it is set on the module the backfill loop reads it from when the daemon starts. Its
only other reader is the asset daemon's path without sensors, unused here (the champion follows
champion_automation_sensor). The run queue's interval is `dequeue_interval_seconds` in dagster.yaml.
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
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance

BACKFILL_INTERVAL_SECONDS = 1
STOP_TIMEOUT_SECONDS = 30
# Launching a run asks the code server over gRPC; under load the default 60 s deadline is missed.
GRPC_TIMEOUT_SECONDS = "300"


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


def main() -> None:
    """`dagster-daemon`'s command line, with the backfill interval and code server above."""
    from dagster._daemon import controller
    from dagster._daemon.cli import main as dagster_daemon
    from dagster._grpc import server

    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_INTERVAL_SECONDS
    # The one reader of it is the function that starts a workspace's code server process.
    server.get_python_environment_entry_point = code_server_entry_point  # type: ignore[attr-defined]
    dagster_daemon()


if __name__ == "__main__":
    main()

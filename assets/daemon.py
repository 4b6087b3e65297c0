"""Run `dagster-daemon` while a block runs: it starts queued runs within the pool limits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

STOP_TIMEOUT_SECONDS = 30
# Launching a run asks the code server over gRPC; under load the default 60 s deadline is missed.
GRPC_TIMEOUT_SECONDS = "300"


def _daemon_command() -> list[str]:
    # The daemon script of this interpreter's environment, whatever PATH says.
    return [str(Path(sys.executable).with_name("dagster-daemon")), "run"]


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

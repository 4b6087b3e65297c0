"""Stopping a child process: SIGTERM first, SIGKILL when it does not exit in time."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """Terminate `process`, kill it after `grace_s` seconds, and wait until it is gone."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

"""Run an ASGI app under uvicorn in a child process and wait until it is ready.

Used by the operational scripts, the serving benchmark and the tests that drive the app over
real HTTP, so all of them start, probe and stop it the same way. Standard library (and
shared.processes) only: it must import wherever the serving package does.
"""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from shared.processes import stop_process

# uvicorn's `http` for the serving app: httptools, refusing excess scoring requests before a task
# is made for them (serving/api/refusing_protocol.py).
HTTP_PROTOCOL = "serving.api.refusing_protocol:RefusingHttpToolsProtocol"


@contextmanager
def app_process(
    argv: Sequence[str],
    env: dict[str, str],
    output: IO[bytes] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` in a child process (output to `output`, else inherited); stopped on exit."""
    process = subprocess.Popen(
        list(argv),
        env=env,
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    try:
        yield process
    finally:
        stop_process(process, grace_s=15)


def wait_until_ready(
    base: str,
    process: subprocess.Popen[bytes],
    timeout_s: float,
    path: str = "/ready",
    poll_s: float = 0.02,
) -> float:
    """Poll `path` until it answers 200 and return the seconds it took.

    Raises RuntimeError when the process exits first or the time is up, with the last answer.
    """
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(base + path, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
                last = f"{response.status}"
        except urllib.error.HTTPError as exc:  # an answer other than 2xx
            last = f"{exc.code} {exc.read()[:200].decode(errors='replace')}"
        except (OSError, http.client.HTTPException) as exc:  # no answer yet: refused, reset
            last = str(exc) or type(exc).__name__
        time.sleep(poll_s)
    raise RuntimeError(f"{base}{path} not ready after {timeout_s:.0f} s: {last}")

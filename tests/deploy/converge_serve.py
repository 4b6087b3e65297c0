"""`converge serve` (the console script, as deployed) in a child process, for the scrape tests."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from serving.launch import app_process, wait_until_ready
from shared.net import free_port
from shared.versions import REPOSITORY_ROOT

CONVERGE = Path(sys.executable).parent / "converge"  # the console script of this environment


@contextlib.contextmanager
def converge_serve(env: dict[str, str], log: Path, ready_path: str = "/ready") -> Iterator[str]:
    """One worker on a free loopback port; yields its base URL once `ready_path` answers 200.

    `/health` for an app that is expected to start without a servable champion.
    """
    port = free_port()
    argv = [str(CONVERGE), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with (
        log.open("wb") as output,
        app_process(argv, {**os.environ, **env}, output=output, cwd=REPOSITORY_ROOT) as process,
    ):
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, process, timeout_s=240, path=ready_path, poll_s=0.1)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from exc
        yield base

"""The serving app under uvicorn in a subprocess, for tests that drive it over real HTTP."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from serving.launch import app_process, wait_until_ready
from shared.net import free_port

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def uvicorn_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """Start `serving.main:app` with `env` on a free port; yield its base URL once /ready is 200."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "serving.main:app", "--host", "127.0.0.1"]
    with (
        log.open("wb") as log_file,
        app_process(
            [*argv, "--port", str(port)],
            {**os.environ, "PYTHONPATH": str(REPO), **env},
            output=log_file,
            cwd=REPO,
        ) as process,
    ):
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, process, timeout_s=240, poll_s=0.1)  # slow imports under load
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from exc
        yield base

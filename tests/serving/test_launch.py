"""Starting an app in a child process and waiting for it: ready, exited early, never ready."""

from __future__ import annotations

import os
import sys

import pytest

from serving.launch import app_process, wait_until_ready
from shared.net import free_port


def test_waits_until_the_path_answers_200_and_stops_the_process() -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with app_process(argv, dict(os.environ)) as process:
        seconds = wait_until_ready(f"http://127.0.0.1:{port}", process, timeout_s=30, path="/")
        assert 0 <= seconds < 30
    assert process.returncode is not None  # stopped on exit


def test_an_app_that_exits_before_it_is_ready_is_reported() -> None:
    argv = [sys.executable, "-c", "raise SystemExit(3)"]
    with (
        app_process(argv, dict(os.environ)) as process,
        pytest.raises(RuntimeError, match="exited with code 3"),
    ):
        wait_until_ready(f"http://127.0.0.1:{free_port()}", process, timeout_s=30)


def test_an_app_that_never_answers_200_times_out_with_its_last_answer() -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with app_process(argv, dict(os.environ)) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base, process, timeout_s=30, path="/")
        with pytest.raises(RuntimeError, match=r"/missing not ready after 1 s: 404"):
            wait_until_ready(base, process, timeout_s=1, path="/missing")

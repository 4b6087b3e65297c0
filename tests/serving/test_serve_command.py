"""`converge serve` refuses a bad serving setting with one line naming it, before it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.net import free_port


def test_an_unknown_event_loop_is_refused_naming_the_setting() -> None:
    converge = str(Path(sys.executable).with_name("converge"))
    env = {**os.environ, "CONVERGE_SERVING_EVENT_LOOP": "tokio"}
    done = subprocess.run(
        [converge, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    expected = "invalid serving setting: CONVERGE_SERVING_EVENT_LOOP: Input should be 'asyncio'"
    assert f"{expected} or 'uvloop'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

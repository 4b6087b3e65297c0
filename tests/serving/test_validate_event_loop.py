"""scripts/validate_event_loop.py catches a handler that blocks the loop (and passes the real app)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.conftest import Registry, serving_env, write_features

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "validate_event_loop.py"


def _run(app: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--app", app, "--threshold-ms", "10", "--rate", "50",
         "--duration-s", "3", "--startup-timeout-s", "240", *extra],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_blocking_handler_fails_the_check() -> None:
    result = _run("tests.serving.blocking_app:app", {})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: the event loop lags over the threshold" in result.stderr


@pytest.mark.h2o
@pytest.mark.usefixtures("champion")
def test_the_real_app_with_a_champion_passes(
    registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    write_features(registry.database_url, {"validate-event-loop": {"AGE": 70, "PSA": 12.5}})
    result = _run("serving.main:app", serving_env(registry, redis_url, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validate_event_loop: OK" in result.stdout

"""scripts/test_circuit_breaker.py against a running app: Redis or PostgreSQL taken away and back.

Each drill uses private servers of its own (never the machine's shared Redis or PostgreSQL).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.conftest import PATIENT, Registry, serving_env, write_features
from tests.serving.server import REPO, uvicorn_server
from tests.serving.services import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.h2o

# Short breaker timeouts so recovery is seen within the drill.
FAST_BREAKERS = {"CONVERGE_SERVING_BREAKER_RESET_TIMEOUT_S": "1"}


def _drill(base: str, dependency: str, stop: str, start: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "test_circuit_breaker.py"),
            "--service",
            "inference-api",
            "--url",
            base,
            "--dependency",
            dependency,
            "--stop-command",
            stop,
            "--start-command",
            start,
            "--entity-id",
            "patient-1",
            "--outage-s",
            "3",
            "--recovery-timeout-s",
            "20",
            "--reset-timeout-s",
            FAST_BREAKERS["CONVERGE_SERVING_BREAKER_RESET_TIMEOUT_S"],
            # The 1 s bound is asserted in test_fallbacks (one process); here client, server and
            # H2O share two cores, so the drill checks its mechanics with a looser bound.
            "--max-fallback-s",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_redis_stopped_during_a_stream(
    registry: Registry, champion: int, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    write_features(registry.database_url, {"patient-1": PATIENT})
    env = serving_env(registry, private_redis.url, tmp_path, **FAST_BREAKERS)
    stop = f"redis-cli -p {private_redis.port} shutdown nosave"
    start = shlex.join([*private_redis.start_command, "--daemonize", "yes"])
    with uvicorn_server(env, tmp_path / "serving.log") as base:
        result = _drill(base, "redis", stop, start)
    subprocess.run(stop, shell=True, check=False, capture_output=True)  # the daemonized one
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 non-2xx" in result.stdout
    assert "breaker states seen: ['closed', 'half_open', 'open']" in result.stdout or (
        "'open'" in result.stdout
    )
    assert "PASS: inference-api survived losing redis" in result.stdout


@pytest.mark.usefixtures("private_champion")
def test_postgres_unreachable_serves_the_default_vector_degraded(
    private_postgres: PrivatePostgres,
    private_registry: Registry,
    redis_url: str,
    tmp_path: Path,
) -> None:
    registry = private_registry
    write_features(registry.database_url, {"patient-1": PATIENT})  # the probes read it
    env = serving_env(registry, redis_url, tmp_path, **FAST_BREAKERS)
    with uvicorn_server(env, tmp_path / "serving.log") as base:
        result = _drill(
            base,
            "postgres",
            shlex.join(private_postgres.stop_command),
            shlex.join(private_postgres.start_command),
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 non-2xx" in result.stdout
    assert "PASS: inference-api survived losing postgres" in result.stdout

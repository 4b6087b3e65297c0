"""test_circuit_breaker.py drives a real app's breakers through open, a failed and a closing probe.

The app scores a hand-made GLM champion (no H2O JVM); the dependency taken away is a private
Redis or PostgreSQL of the test's own.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.handmade_mojo import COEFFICIENTS
from tests.scripts.conftest import run_script
from tests.serving.conftest import Registry, serving_env, write_features
from tests.serving.server import uvicorn_server
from tests.serving.services import PrivatePostgres, PrivateRedis

RESET_TIMEOUT_S = "3"
ENTITY = {"colour": next(iter(COEFFICIENTS)), "size": 2.0}


def _drill(base: str, dependency: str, stop: str, start: str) -> subprocess.CompletedProcess[str]:
    return run_script(
        "test_circuit_breaker.py", "--service", base, "--dependency", dependency,
        "--stop-command", stop, "--start-command", start, "--entity-id", "drill-entity",
        "--outage-s", "3", "--reset-timeout-s", RESET_TIMEOUT_S, "--recovery-timeout-s", "30",
        # Client, server and the other tests share two cores: the 1 s bound is test_fallbacks'.
        "--max-fallback-s", "5",
        timeout=180,
    )  # fmt: skip


def _redis_drill(
    registry: Registry, private_redis: PrivateRedis, tmp_path: Path, **settings: str
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The app's URL and the drill's result, taking `private_redis` away; `settings` for the app."""
    write_features(registry.database_url, {"drill-entity": ENTITY})
    env = serving_env(
        registry, private_redis.url, tmp_path,
        CONVERGE_SERVING_BREAKER_RESET_TIMEOUT_S=RESET_TIMEOUT_S, **settings,
    )  # fmt: skip
    stop = f"redis-cli -p {private_redis.port} shutdown nosave"
    start = shlex.join([*private_redis.start_command, "--daemonize", "yes"])
    try:
        with uvicorn_server(env, tmp_path / "serving.log") as base:
            return base, _drill(base, "redis", stop, start)
    finally:
        subprocess.run(stop, shell=True, check=False, capture_output=True)  # the daemonized one


@pytest.mark.usefixtures("glm_champion")
def test_redis_drill_closes_through_a_half_open_probe(
    registry: Registry, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    base, result = _redis_drill(registry, private_redis, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed probe left it open" in result.stdout
    assert "recovered by a half-open probe" in result.stdout
    assert f"PASS: {base} survived losing redis" in result.stdout


@pytest.mark.usefixtures("private_glm_champion")
def test_postgres_drill_closes_through_a_half_open_probe(
    private_postgres: PrivatePostgres, private_registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    write_features(private_registry.database_url, {"drill-entity": ENTITY})
    env = serving_env(
        private_registry, redis_url, tmp_path,
        CONVERGE_SERVING_BREAKER_RESET_TIMEOUT_S=RESET_TIMEOUT_S,
    )  # fmt: skip
    with uvicorn_server(env, tmp_path / "serving.log") as base:
        result = _drill(
            base,
            "postgres",
            shlex.join(private_postgres.stop_command),
            shlex.join(private_postgres.start_command),
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed probe left it open" in result.stdout
    assert f"PASS: {base} survived losing postgres" in result.stdout


@pytest.mark.usefixtures("glm_champion")
def test_a_breaker_that_never_opens_fails_the_drill(
    registry: Registry, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    _, result = _redis_drill(
        registry, private_redis, tmp_path, CONVERGE_SERVING_BREAKER_FAIL_MAX="1000000"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: the redis breaker never showed open in /metrics" in result.stderr
    assert "not open again" in result.stderr


def test_help() -> None:
    result = run_script("test_circuit_breaker.py", "--help")
    assert result.returncode == 0
    assert "--reset-timeout-s" in result.stdout

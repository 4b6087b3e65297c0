"""Fixtures for the operator-script tests: scripts run as subprocesses against real services."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.conftest import (
    glm_champion,
    private_glm_champion,
    private_postgres,
    private_redis,
    private_registry,
    registry,
)
from tests.serving.services import PrivatePostgres, migrated

REPO = Path(__file__).resolve().parents[2]
# The serving tests' fixtures: a registry and hand-made GLM champion, private servers to kill.
__all__ = [
    "glm_champion",
    "private_glm_champion",
    "private_postgres",
    "private_redis",
    "private_registry",
    "registry",
]


def run_script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
               ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`python scripts/NAME args...` from the repository root; output captured as text."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


class StatsPostgres(PrivatePostgres):
    """A private PostgreSQL that loads pg_stat_statements (statement counts per database)."""

    @property
    def start_command(self) -> list[str]:
        """The parent's command with the extension preloaded."""
        command = super().start_command
        options = command.index("-o") + 1
        command[options] += " -c shared_preload_libraries=pg_stat_statements"
        return command


@pytest.fixture
def stats_postgres() -> Iterator[StatsPostgres]:
    """A migrated private PostgreSQL with pg_stat_statements."""
    with migrated(StatsPostgres()) as server:
        yield server

"""`converge versions check` run as a process on a temp copy of the project with changed pins."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.versions import REPOSITORY_ROOT, pinned_versions

CONVERGE = [sys.executable, "-c", "from converge.cli import main; main()"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the files the check reads."""
    for name in ("pyproject.toml", "requirements.lock", "versions.env"):
        shutil.copy(REPOSITORY_ROOT / name, tmp_path / name)
    return tmp_path


def _check(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONVERGE_VERSIONS_FILE": str(project / "versions.env")}
    return subprocess.run(
        [*CONVERGE, "versions", "check", "--project-dir", str(project), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_agreeing_copy_passes(project: Path) -> None:
    result = _check(project, "--verbose")
    assert result.returncode == 0, result.stderr
    assert f"versions agree with {project / 'versions.env'}" in result.stdout
    assert f"ok: installed h2o == {pinned_versions().h2o_version}" in result.stdout


def test_a_different_h2o_pin_fails_naming_both_values(project: Path) -> None:
    actual = pinned_versions().h2o_version
    env_file = project / "versions.env"
    env_file.write_text(
        env_file.read_text().replace(f"H2O_VERSION={actual}", "H2O_VERSION=3.46.0.99")
    )

    result = _check(project)

    assert result.returncode == 1
    mismatch_lines = [line for line in result.stderr.splitlines() if line.startswith("MISMATCH")]
    assert len(mismatch_lines) == 3  # pyproject, lock, installed
    for where in (f"h2o in {project / 'pyproject.toml'}", "h2o in", "installed h2o"):
        assert any(where in line for line in mismatch_lines)
    for line in mismatch_lines:
        assert f"versions.env says 3.46.0.99, found {actual}" in line
    assert "3 version mismatch(es)" in result.stderr


def test_only_the_lock_disagrees(project: Path) -> None:
    lock = project / "requirements.lock"
    lock.write_text(lock.read_text().replace("\ndagster-aws==0.29.27", "\ndagster-aws==0.29.1"))

    result = _check(project)

    assert result.returncode == 1
    assert f"MISMATCH dagster-aws in {lock}" in result.stderr
    assert "says 0.29.27, found 0.29.1" in result.stderr
    assert result.stderr.count("MISMATCH") == 1


def test_a_malformed_versions_file_is_a_clear_error(project: Path) -> None:
    (project / "versions.env").write_text("H2O_VERSION 3.46\n")
    result = _check(project)
    assert result.returncode == 1
    assert "versions.env:1: expected KEY=VALUE" in result.stderr


def test_the_option_overrides_the_environment(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other") / "pins.env"
    other.write_text("H2O_VERSION=1.0\n")
    result = _check(project, "--versions-file", str(other))
    assert result.returncode == 1 and "versions.env says 1.0" in result.stderr
    assert f"against {other}" in result.stderr

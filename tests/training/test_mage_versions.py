"""`converge versions check` covers the Mage virtualenv's lock: its mage-ai pin and its hashes."""

from __future__ import annotations

import shutil
from pathlib import Path

from shared.versions import (
    MAGE_LOCK,
    MAGE_REQUIREMENTS,
    REPOSITORY_ROOT,
    check_versions,
    pinned_versions,
)


def _project(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "requirements.lock", MAGE_LOCK, MAGE_REQUIREMENTS):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPOSITORY_ROOT / name, tmp_path / name)
    return tmp_path


def test_the_mage_lock_pins_versions_env_with_hashes() -> None:
    lock = (REPOSITORY_ROOT / MAGE_LOCK).read_text()
    assert f"mage-ai=={pinned_versions().require('MAGE_VERSION')} \\" in lock
    assert check_versions() == []


def test_another_mage_version_in_the_lock_is_a_mismatch(tmp_path: Path) -> None:
    project = _project(tmp_path)
    lock = project / MAGE_LOCK
    lock.write_text(lock.read_text().replace("\nmage-ai==0.9.80 ", "\nmage-ai==0.9.79 "))

    found = {(m.what, m.expected, m.found) for m in check_versions(project)}

    assert found == {(f"mage-ai in {lock} (MAGE_VERSION)", "0.9.80", "0.9.79")}


def test_a_pin_without_hashes_is_a_mismatch(tmp_path: Path) -> None:
    project = _project(tmp_path)
    lock = project / MAGE_LOCK
    lock.write_text(lock.read_text() + "unhashed-package==1.0\n")

    (mismatch,) = check_versions(project)

    assert mismatch.what == str(lock)
    assert mismatch.found == "no hash: unhashed-package"


def test_a_missing_mage_lock_is_a_mismatch(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / MAGE_LOCK).unlink()

    found = {(m.what, m.found) for m in check_versions(project)}

    assert found == {(str(project / MAGE_LOCK), "no such file")}

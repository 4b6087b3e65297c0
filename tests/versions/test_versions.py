"""versions.env parsing and the comparison with pyproject.toml, requirements.lock and installs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.versions import (
    REPOSITORY_ROOT,
    VersionsFileError,
    check_versions,
    parse_versions_env,
    pinned_versions,
)


def test_parse_handles_comments_blanks_and_quotes() -> None:
    text = '# pins\n\nH2O_VERSION=3.46.0.11\n  PYTHON_VERSION = "3.11"\nX=a=b # not a comment\n'
    with pytest.raises(VersionsFileError, match=r"versions.env:4: expected KEY=VALUE"):
        parse_versions_env(text)
    text = '# pins\n\nH2O_VERSION=3.46.0.11\nPYTHON_VERSION="3.11"\nX=a=b\n'
    assert parse_versions_env(text) == {
        "H2O_VERSION": "3.46.0.11",
        "PYTHON_VERSION": "3.11",
        "X": "a=b",
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("H2O_VERSION=1\nH2O_VERSION=2\n", ":2: H2O_VERSION is set twice"),
        ("H2O_VERSION=\n", ":1: H2O_VERSION has an empty value"),
        ("export H2O_VERSION=1\n", ":1: expected KEY=VALUE"),
    ],
)
def test_parse_rejects_malformed_lines(text: str, error: str) -> None:
    with pytest.raises(VersionsFileError, match=error):
        parse_versions_env(text)


def test_pinned_versions_follows_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = tmp_path / "versions.env"
    custom.write_text("H2O_VERSION=9.9.9.9\nPYTHON_VERSION=3.12\n")
    monkeypatch.setenv("CONVERGE_VERSIONS_FILE", str(custom))

    pinned = pinned_versions()

    assert (pinned.h2o_version, pinned.python_version, pinned.source) == ("9.9.9.9", "3.12", custom)
    custom.write_text("PYTHON_VERSION=3.12\n")
    with pytest.raises(VersionsFileError, match=f"{custom} has no H2O_VERSION"):
        _ = pinned_versions().h2o_version
    monkeypatch.setenv("CONVERGE_VERSIONS_FILE", str(tmp_path / "absent.env"))
    with pytest.raises(VersionsFileError, match=r"absent\.env not found"):
        pinned_versions()


def test_the_repository_agrees_with_itself() -> None:
    assert check_versions() == []


def test_each_source_is_compared(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy(REPOSITORY_ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"dagster-k8s==', '"dagster-k8s>='))
    lock = tmp_path / "requirements.lock"
    lock.write_text(lock.read_text().replace("\nh2o==", "\nh2o==3.40.0.4 \\\n    # was h2o=="))

    mismatches = {m.what: (m.expected, m.found) for m in check_versions(tmp_path)}

    pinned = pinned_versions()
    assert mismatches == {
        f"dagster-k8s in {pyproject} (DAGSTER_LIBRARIES_VERSION)": (
            pinned.values["DAGSTER_LIBRARIES_VERSION"],
            f"'dagster-k8s>={pinned.values['DAGSTER_LIBRARIES_VERSION']}' (not an exact == pin)",
        ),
        f"h2o in {lock} (H2O_VERSION)": (pinned.h2o_version, "3.40.0.4"),
    }


def test_missing_project_files_are_mismatches(tmp_path: Path) -> None:
    found = {(m.what, m.found) for m in check_versions(tmp_path)}
    assert (str(tmp_path / "requirements.lock"), "no such file") in found
    assert (str(tmp_path / "pyproject.toml"), "no such file") in found


def test_a_package_that_is_not_installed_is_a_note_not_a_mismatch() -> None:
    """Like the serving image, which has no h2o: run with no site-packages at all (-S)."""
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from shared.versions import compare_versions; r = compare_versions();"
        "print(json.dumps([[str(m) for m in r.mismatches], r.notes]))"
    )
    completed = subprocess.run(
        [sys.executable, "-S", "-c", script, str(REPOSITORY_ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    mismatches, notes = json.loads(completed.stdout)
    assert mismatches == []
    assert "h2o is not installed here: nothing to compare" in notes


def test_image_locks_are_compared_when_present(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy(REPOSITORY_ROOT / name, tmp_path / name)
    images = tmp_path / "deploy" / "docker"
    images.mkdir(parents=True)
    for image in ("serving", "training"):
        shutil.copy(REPOSITORY_ROOT / "deploy" / "docker" / f"requirements-{image}.lock", images)
    training = images / "requirements-training.lock"
    training.write_text(training.read_text().replace("\nh2o==", "\nh2o==3.32.1.7 \\\n#h2o=="))

    mismatches = check_versions(tmp_path)

    # The serving lock has no h2o at all, which is right; the training lock disagrees.
    assert [(m.what, m.found) for m in mismatches] == [
        (f"h2o in {training} (H2O_VERSION)", "3.32.1.7")
    ]

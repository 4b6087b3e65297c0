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


def test_the_predict_example_asks_for_an_entity_the_demo_writes() -> None:
    from assets.demo_data import generate_demo_data

    example = re.search(r"/v1/predict .*\"entity_id\": \"([^\"]+)\"", README.read_text())
    assert example, "the README has no /v1/predict example"
    # The demo's defaults: an unknown entity would be answered with the degraded default vector.
    assert example[1] in set(generate_demo_data().features["entity_id"])

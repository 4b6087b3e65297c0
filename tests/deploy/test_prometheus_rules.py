"""deploy/prometheus: the rules file is valid for promtool and its unit tests pass.

The unit tests (converge-rules.test.yml) feed each alert synthetic series and check it fires only
once its `for:` has elapsed, and that a healthy series beside it stays quiet.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from shared.versions import REPOSITORY_ROOT

PROMETHEUS_DIR = REPOSITORY_ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "converge-rules.yml"
UNIT_TESTS = PROMETHEUS_DIR / "converge-rules.test.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_the_rules() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = _promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert alerts == tested


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check can fail: an expression that does not parse is reported by name."""
    broken = tmp_path / "broken.yml"
    text = RULES.read_text().replace("== 1\n", "== \n", 1)
    broken.write_text(text)
    result = _promtool("check", "rules", str(broken))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr

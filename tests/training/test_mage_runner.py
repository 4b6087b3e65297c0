"""`run_headless` bounds a Mage run however it hangs, and reports a run that ended without a report.

The stand-in for `headless.py` is a real child process that leaves a grandchild holding its output
pipe, as Mage's worker processes do: the bound must kill the whole group, or the read never ends.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from converge.mage.runner import MageRunError, run_headless

HANGING_HEADLESS = """\
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # inherits stdout
print("[converge-mage] started", flush=True)
time.sleep(600)
"""

SILENT_HEADLESS = """\
print("[converge-mage] started", flush=True)
raise SystemExit(3)
"""


def project_with(tmp_path: Path, headless: str) -> Path:
    """A project folder whose headless.py is `headless`."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "headless.py").write_text(headless)
    return project


def test_a_hanging_run_and_the_processes_it_started_are_killed_at_the_bound(
    tmp_path: Path,
) -> None:
    project = project_with(tmp_path, HANGING_HEADLESS)
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(MageRunError, match=r"the Mage run was killed 2 s after it started"):
        run_headless(
            Path(sys.executable), project, tmp_path, {}, 1.0, said.append, startup_grace_s=1.0
        )
    assert time.monotonic() - started < 30
    assert said == ["started"]
    sleepers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if "import time; time.sleep(600)" in (p.info["cmdline"] or [])
    ]
    assert sleepers == []


def test_a_run_that_ends_without_a_report_names_its_exit_code_and_log(tmp_path: Path) -> None:
    project = project_with(tmp_path, SILENT_HEADLESS)
    with pytest.raises(MageRunError, match=r"ended without a report \(exit 3\); see .*mage\.log"):
        run_headless(Path(sys.executable), project, tmp_path, {}, 5.0, lambda _: None)

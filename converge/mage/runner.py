"""`converge mage run`'s machinery: the Mage virtualenv from its lock, a run folder, a headless run.

Mage runs in its own virtualenv (created from `mage_pipeline/requirements.lock` with hashes, again
only when the lock changes) and is driven by `mage_pipeline/headless.py` through Mage's scheduler.
Each run gets a copy of the project with `concurrency_config.block_run_limit` set to N, and its
own Mage database and variables, so runs never see each other's state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
MAGE_PROJECT = REPOSITORY_ROOT / "mage_pipeline"
MAGE_LOCK = MAGE_PROJECT / "requirements.lock"
PIPELINE = "converge_training"
TRAINING_BLOCK = "train_candidate"
REDUCER_BLOCK = "select_champion"
# Beyond headless.py's own timeout: the time Mage may take to start and to write its report.
STARTUP_GRACE_S = 180.0
# headless.py prefixes its own lines with this; the rest is Mage's logging (kept in the log file).
MARKER = "[converge-mage] "

Progress = Callable[[str], None]


class MageRunError(RuntimeError):
    """The Mage run could not start or finish; the message names the block or the step."""


@dataclass(frozen=True)
class BlockRun:
    """One block run as Mage's database recorded it (epoch seconds; None: never started/ended)."""

    block_uuid: str
    status: str
    started_at: float | None
    completed_at: float | None
    error: str | None = None


@dataclass(frozen=True)
class MageRunReport:
    """The pipeline run's final status and its block runs."""

    status: str
    block_runs: list[BlockRun]

    def training_runs(self) -> list[BlockRun]:
        """The dynamic children of the training block (one per config)."""
        return [b for b in self.block_runs if b.block_uuid.startswith(f"{TRAINING_BLOCK}:")]

    def block(self, uuid: str) -> BlockRun:
        """The run of block `uuid`."""
        (found,) = [b for b in self.block_runs if b.block_uuid == uuid]
        return found


def max_concurrent(intervals: Sequence[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end and a start at the same time: not both)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:  # at equal times -1 sorts first: a slot is freed before it is reused
        running += step
        peak = max(peak, running)
    return peak


def _lock_digest() -> str:
    return hashlib.sha256(MAGE_LOCK.read_bytes()).hexdigest()


def ensure_mage_venv(home: Path, say: Progress) -> Path:
    """The Mage virtualenv's python under `home`, created from the hashed lock when it changed."""
    venv = home / "mage-venv"
    python, stamp = venv / "bin" / "python", venv / ".lock-sha256"
    digest = _lock_digest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    uv = Path(sys.executable).with_name("uv")
    say(f"creating the Mage virtualenv {venv} from {MAGE_LOCK.name} (hashes required)")
    install = ["pip", "install", "--quiet", "--python", str(python), "--require-hashes"]
    for command in (
        [str(uv), "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)],
        [str(uv), *install, "-r", str(MAGE_LOCK)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise MageRunError(f"creating the Mage virtualenv failed: {done.stderr.strip()}")
    stamp.write_text(digest)
    return python


def prepare_project(run_dir: Path, block_run_limit: int) -> Path:
    """A copy of the Mage project in `run_dir` whose pipeline runs N training blocks at once."""
    project = run_dir / MAGE_PROJECT.name
    shutil.copytree(
        MAGE_PROJECT, project, ignore=shutil.ignore_patterns("requirements.*", "__pycache__")
    )
    metadata_path = project / "pipelines" / PIPELINE / "metadata.yaml"
    metadata = yaml.safe_load(metadata_path.read_text())
    metadata["concurrency_config"] = {"block_run_limit": block_run_limit}
    metadata_path.write_text(yaml.safe_dump(metadata, sort_keys=False))
    return project


def _kill_process_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL `process` and everything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(process.pid, signal.SIGKILL)


def run_headless(
    mage_python: Path,
    project: Path,
    workdir: Path,
    env: dict[str, str],
    timeout_seconds: float,
    say: Progress,
    startup_grace_s: float = STARTUP_GRACE_S,
) -> MageRunReport:
    """Run the pipeline through Mage's scheduler; Mage's output goes to `workdir`/mage.log."""
    report_path = workdir / "mage-report.json"
    command = [
        str(mage_python),
        str(project / "headless.py"),
        "--project",
        str(project),
        "--pipeline",
        PIPELINE,
        "--variables",
        json.dumps({"workdir": str(workdir)}),
        "--report",
        str(report_path),
        "--timeout",
        str(timeout_seconds),
    ]
    log_path = workdir / "mage.log"
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        ) as process,
    ):
        # headless.py bounds the run itself; this bounds a Mage that hangs before or after it.
        # The whole group goes: Mage's worker processes hold the pipe open after their parent.
        overdue = threading.Event()

        def kill_overdue_run() -> None:
            overdue.set()
            _kill_process_group(process)

        guard = threading.Timer(timeout_seconds + startup_grace_s, kill_overdue_run)
        guard.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                if line.startswith(MARKER):
                    say(line[len(MARKER) :].rstrip())
        finally:
            guard.cancel()
            _kill_process_group(process)
    if not report_path.exists():
        if overdue.is_set():
            raise MageRunError(
                f"the Mage run was killed {timeout_seconds + startup_grace_s:.0f} s after it"
                f" started (its own timeout {timeout_seconds:.0f} s and {startup_grace_s:.0f} s to"
                f" start and report); see {log_path}"
            )
        raise MageRunError(
            f"the Mage run ended without a report (exit {process.returncode}); see {log_path}"
        )
    raw: dict[str, Any] = json.loads(report_path.read_text())
    return MageRunReport(
        status=str(raw["status"]),
        block_runs=[BlockRun(**block) for block in raw["block_runs"]],
    )

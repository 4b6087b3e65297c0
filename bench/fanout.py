"""`converge bench fanout`: a config fan-out through Dagster under the memory-derived pool limit.

Trains C small configs (default 50) as the fan-out backfill (`assets.fanout`): its policy packs
them into about N runs with `h2o_training` limited to N = floor(node_memory / task_memory). Reports
utilization = busy time / (N x wall time), goal >= 0.8, twice: with the wall time from the first
run's start to the last run's end (excludes the wait for the backfill daemon and the runs' launch),
and with it counted from the backfill's creation (includes them: what a user waits for). A config's
busy time runs from the start of its H2O training to its stored MOJO (training, export, parity
check, upload to the store). Also: how long the daemon took to queue the first run and that run to
start, the same utilization with training alone, whole runs (slot occupancy), where the runs' idle
time goes, each run's launch timeline (`bench.launch_timeline`) and the peak resident memory of
every process involved (sampled).
The same-run baseline trains the same configs one after another in this process on the same H2O
cluster, without Dagster. Both meet a warm JVM: one untimed upload and GBM build on the new
cluster comes before the fan-out (the baseline, after it, finds the cluster warm anyway).

Runs in a scratch database and Dagster home it creates and drops; H2O_URL is used when set, else a
local JVM sized by the memory split is started and stopped.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
import psutil
import yaml
from dagster import DagsterEventType, DagsterInstance

from assets.daemon import running_daemon, wait_until_iterating
from assets.definitions import defs
from assets.h2o_training import train_candidate, upload_frames
from assets.leaderboard import CandidateResult, latest_candidates
from assets.model_configs import load_model_configs
from assets.pipeline import train_all
from bench.launch_timeline import timeline_lines
from bench.scratch import scratch_database
from resources.dagster_home import render_instance_yaml
from resources.environments import NODE_MEMORY_ENV, TASK_MEMORY_ENV
from resources.h2o import H2O_URL_ENV, H2OResource, start_local_cluster
from resources.memory_split import split_memory, training_concurrency
from shared.db import database_url
from shared.settings import Settings

UTILIZATION_TARGET = 0.8
WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"


def config_matrix(count: int, ntrees: int) -> dict[str, object]:
    """Exactly `count` GBM configs, one per learning rate (0.01 apart, all within H2O's (0, 1])."""
    if not 1 <= count <= 100:
        raise click.BadParameter(f"between 1 and 100 configs, got {count}", param_hint="--configs")
    rates = [round(0.01 * (i + 1), 2) for i in range(count)]
    return {"gbm": {"ntrees": ntrees, "seed": 1, "max_depth": 3, "learn_rate": rates}}


class PeakMemory:
    """Samples the summed RSS of this process, its descendants and extra pids in a thread."""

    def __init__(self, extra_pids: list[int], interval: float = 0.5) -> None:
        self.peak_bytes = 0
        self._extra = extra_pids
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        processes = [me, *me.children(recursive=True)]
        processes += [psutil.Process(pid) for pid in self._extra if psutil.pid_exists(pid)]
        total = 0
        for process in {p.pid: p for p in processes}.values():
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue  # ended between listing and reading: nothing left to count
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def h2o_cluster(node_memory: str) -> Iterator[tuple[str, list[int]]]:
    """(url, JVM pids to measure): H2O_URL, else a local JVM sized by the memory split."""
    if os.environ.get(H2O_URL_ENV):
        yield os.environ[H2O_URL_ENV], []
        return
    cluster = start_local_cluster(split_memory(node_memory))
    jvms = [p.pid for p in psutil.Process().children(recursive=True) if "java" in p.name()]
    try:
        yield cluster.url, jvms
    finally:
        cluster.shutdown()


@dataclass(frozen=True)
class RunTimeline:
    """One run of the fan-out: its creation, start and end, and its configs' busy spans."""

    run_id: str
    created: float
    start: float
    end: float
    busy: list[tuple[float, float]]


def run_timelines(
    instance: DagsterInstance, run_ids: Sequence[str], trainings: dict[str, CandidateResult]
) -> list[RunTimeline]:
    """The finished runs of the fan-out, each with its configs' busy spans in order."""
    timelines = []
    for run_id in run_ids:
        record = instance.get_run_record_by_id(run_id)
        if record is None or record.start_time is None or record.end_time is None:
            continue
        events = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        partitions = [e.dagster_event.partition for e in events if e.dagster_event]
        busy = [
            (trainings[p].training_started_at, trainings[p].candidate_finished_at)
            for p in partitions
            if p in trainings
        ]
        created = record.create_timestamp.timestamp()
        timelines.append(
            RunTimeline(run_id, created, record.start_time, record.end_time, sorted(busy))
        )
    return timelines


def idle_breakdown(timelines: Sequence[RunTimeline]) -> dict[str, float]:
    """Seconds of the runs not busy, by where they fall; with N runs they sum to N x wall - busy."""
    wall_start = min(t.start for t in timelines)
    wall_end = max(t.end for t in timelines)
    return {
        "start after the first run": sum(t.start - wall_start for t in timelines),
        "run start to first training": sum(
            (t.busy[0][0] if t.busy else t.end) - t.start for t in timelines
        ),
        "between configs": sum(
            b[0] - a[1] for t in timelines for a, b in itertools.pairwise(t.busy)
        ),
        "last config to run end": sum(t.end - t.busy[-1][1] for t in timelines if t.busy),
        "end before the last run": sum(wall_end - t.end for t in timelines),
    }


def warm_up(h2o_url: str, ntrees: int) -> None:
    """One untimed upload and GBM build on the new cluster, so the fan-out meets a warm JVM (as a
    standing cluster is, and as the serial baseline after the fan-out finds it)."""
    from h2o.estimators import H2OGradientBoostingEstimator

    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(1000, 5)), columns=[f"x{i}" for i in range(5)])
    data["y"] = np.where(data["x0"] + rng.normal(size=1000) > 0, "yes", "no")
    with H2OResource(url=h2o_url).session("bench_warm_up") as session:
        frame = session.upload(data, "warm_up", ["y"])
        model = H2OGradientBoostingEstimator(
            model_id=session.key("gbm"), ntrees=ntrees, max_depth=3, seed=1
        )
        model.train(x=[f"x{i}" for i in range(5)], y="y", training_frame=frame)


def serial_baseline(instance: DagsterInstance, matrix: Path, h2o_url: str) -> float:
    """Wall seconds to train every config one after another in this process, no Dagster."""
    frame = defs.load_asset_value("training_frame", instance=instance)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"training_frame is a {type(frame).__name__}, not a DataFrame")
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory() as workdir,
        H2OResource(url=h2o_url).session("bench_serial") as session,
    ):
        frames = upload_frames(session, frame)
        for config in load_model_configs(matrix):
            train_candidate(session, config, frames, Path(workdir))
    return time.monotonic() - started


@click.command()
@click.option("--configs", default=50, show_default=True, help="Configs in the fan-out.")
@click.option("--entities", default=1000, show_default=True, help="Demo entities (rows).")
@click.option("--ntrees", default=5, show_default=True)
@click.option("--node-memory", default="8g", show_default=True)
@click.option("--task-memory", default="4g", show_default=True)
def command(configs: int, entities: int, ntrees: int, node_memory: str, task_memory: str) -> None:
    """Fan out CONFIGS trainings under the pool limit; print utilization and peak memory."""
    limit = training_concurrency(node_memory, task_memory)
    settings = Settings()
    with (
        tempfile.TemporaryDirectory(prefix="converge-bench-") as tmp,
        scratch_database(database_url(settings), "converge_bench") as (_, url),
        scratch_database(database_url(settings), "converge_bench_dagster", migrate=False) as (
            _,
            dagster_url,
        ),
        h2o_cluster(node_memory) as (h2o_url, jvm_pids),
    ):
        warm_up(h2o_url, ntrees)
        root = Path(tmp)
        matrix = root / "model_configs.yaml"
        matrix.write_text(yaml.safe_dump(config_matrix(configs, ntrees)))
        home = root / "dagster"
        render_instance_yaml(home, dagster_url, pool_limit=limit)
        env = {
            "DATABASE_URL": url,
            "ARTIFACT_STORE_URI": (root / "artifacts").as_uri(),
            "CONVERGE_HOME": str(root),
            "CONVERGE_MODEL_CONFIGS": str(matrix),
            "DAGSTER_HOME": str(home),
            H2O_URL_ENV: h2o_url,
            NODE_MEMORY_ENV: node_memory,
            TASK_MEMORY_ENV: task_memory,
        }
        os.environ.update(env)
        instance = DagsterInstance.from_config(str(home))
        try:
            with (
                PeakMemory(jvm_pids) as memory,
                running_daemon(home, WORKSPACE, env, root / "daemon.log"),
            ):
                # A deployed daemon runs all the time: its start-up is not the fan-out's pickup.
                wait_until_iterating(instance, "BACKFILL", since=time.time())
                result = train_all(
                    instance,
                    pool_limit=limit,
                    features_config={"demo_entities": entities},
                    progress=lambda message: None,
                )
            trainings = latest_candidates(instance, result.candidates.trained)
            timelines = run_timelines(instance, result.run_ids, trainings)
            backfill = instance.get_backfill(result.backfill_id)
            if backfill is None:
                raise LookupError(f"backfill {result.backfill_id} vanished")
            launch = timeline_lines(
                instance,
                [t.run_id for t in timelines],
                backfill.backfill_timestamp,
                {t.run_id: t.busy[0][0] for t in timelines if t.busy},
            )
            baseline = serial_baseline(instance, matrix, h2o_url)
        finally:
            instance.dispose()
    spans = [(t.start, t.end) for t in timelines]
    last_end = max(end for _, end in spans)
    first_start = min(start for start, _ in spans)
    wall = last_end - first_start
    from_launch = last_end - backfill.backfill_timestamp
    first_queued = min(t.created for t in timelines)
    busy = sum(t.candidate_finished_at - t.training_started_at for t in trainings.values())
    training = sum(t.training_finished_at - t.training_started_at for t in trainings.values())
    occupied = sum(end - start for start, end in spans)
    utilization = busy / (limit * wall)
    with_pickup = busy / (limit * from_launch)
    click.echo(
        f"configs: {configs} ({len(trainings)} succeeded) in {len(spans)} runs, "
        f"pool limit N = {limit}"
    )
    click.echo(f"fan-out wall time: {wall:.1f} s; serial in-process baseline: {baseline:.1f} s")
    click.echo(f"ratio baseline / fan-out wall: {baseline / wall:.2f}")
    click.echo(
        f"utilization busy/(N x wall): {utilization:.3f} (goal >= {UTILIZATION_TARGET}; "
        "wall from the first run's start: excludes the daemon's pickup and the runs' launch)"
    )
    click.echo(
        f"utilization with the pickup, busy/(N x wall from the backfill's creation, "
        f"{from_launch:.1f} s): {with_pickup:.3f} (goal >= {UTILIZATION_TARGET})"
    )
    click.echo(
        f"  backfill creation to its first run queued (backfill daemon): "
        f"{first_queued - backfill.backfill_timestamp:.2f} s; to the first run's start "
        f"(run queue, launch, process start-up): {first_start - backfill.backfill_timestamp:.2f} s"
    )
    click.echo(f"  H2O training alone/(N x wall): {training / (limit * wall):.3f}")
    click.echo(f"run-slot occupancy runs/(N x wall): {occupied / (limit * wall):.3f}")
    idle = idle_breakdown(timelines)
    click.echo(f"idle seconds of the runs ({sum(idle.values()):.1f} s in all):")
    for where, seconds in idle.items():
        click.echo(f"  {where}: {seconds:.2f} s")
    click.echo("timeline from the backfill's creation (Dagster's event log, first training):")
    for line in launch:
        click.echo(line)
    click.echo(f"peak RSS of all processes: {memory.peak_bytes / 1024**3:.2f} GiB")
    if utilization < UTILIZATION_TARGET:
        click.echo("utilization below the goal: per-run start-up still outweighs the trainings")
    if with_pickup < UTILIZATION_TARGET:
        click.echo("utilization with the pickup below the goal: the launch outweighs the trainings")

"""`converge mage run` (the fan-out as a Mage pipeline, headless) and the steps its blocks call.

`run` uses the same embedded defaults as `converge demo` (PostgreSQL, a local H2O JVM, a folder of
artifacts), or DATABASE_URL / ARTIFACT_STORE_URI / H2O_URL when set. `step` is what the Mage
blocks run in converge's virtualenv: JSON in on stdin, JSON out on stdout, logs on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from converge.commands.demo import demo_options
from converge.mage.runner import REDUCER_BLOCK, MageRunError, MageRunReport

RUN_TIMEOUT_S = 1800.0


def _say(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}")


@click.group("mage")
def mage() -> None:
    """The candidate fan-out as a Mage pipeline (dynamic blocks), beside the Dagster assets."""


@mage.command("step", hidden=True)
@click.argument("name", type=click.Choice(["load", "train", "reduce"]))
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), required=True)
def step(name: str, workdir: Path) -> None:
    """One block's work: `load` the frame and matrix, `train` one config, `reduce` to a champion."""
    from assets.h2o_training import CandidateTrainingError
    from assets.holdout import HoldoutError
    from assets.model_configs import ModelConfig, ModelConfigError
    from converge.mage import steps
    from shared.parity import ParityError

    payload = json.loads(sys.stdin.read() or "null")
    result: Any
    # H2O's client prints to stdout; stdout must carry the JSON result alone.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            if name == "load":
                result = steps.load(workdir)
            elif name == "train":
                result = steps.train(workdir, ModelConfig(**payload))
            else:
                result = steps.reduce(workdir, payload)
        except (
            CandidateTrainingError,
            ParityError,
            HoldoutError,
            ModelConfigError,
            ValueError,
        ) as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    click.echo(json.dumps(result))


def _ingest_demo(database_url: str, entities: int, labels_path: Path) -> None:
    """The demo features into the feature store (as `converge demo` does); its labels to a file."""
    from assets.features import FeaturesConfig, read_source
    from shared.db import connect
    from shared.feature_store import ingest_frame

    features, labels, source = read_source(FeaturesConfig(demo_entities=entities))
    with connect(database_url) as conn:
        ingest_frame(conn, features, "entity_id", "event_timestamp", source)
    labels.to_parquet(labels_path, index=False)


def _print_outcome(report: MageRunReport, workdir: Path, limit: int) -> None:
    from converge.mage.runner import max_concurrent
    from converge.mage.steps import CHAMPION_FILE

    if report.status == "timed_out":
        waiting = [
            f"{b.block_uuid} ({b.status})"
            for b in report.block_runs
            if b.status not in {"completed", "failed", "upstream_failed"}
        ]
        raise MageRunError(f"timed out; blocks not finished: {', '.join(waiting)}")
    reducer = report.block(REDUCER_BLOCK)
    if reducer.status != "completed":
        failed = [f"{b.block_uuid}: {b.error}" for b in report.block_runs if b.status == "failed"]
        raise MageRunError(
            f"block {REDUCER_BLOCK} did not complete ({reducer.status}); "
            f"failed blocks: {'; '.join(failed) or 'none'}"
        )
    champion = json.loads((workdir / CHAMPION_FILE).read_text())
    click.echo("\nLeaderboard (validation set):\n")
    click.echo(champion["leaderboard"])
    verdict = "promoted to champion" if champion["promoted"] else "registered, not promoted"
    click.echo(
        f"\nChampion: {champion['config_name']} ({champion['metric']} {champion['value']:.4f}), "
        f"model_version {champion['model_version']}, orchestrator mage, {verdict}: "
        f"{champion['reason']}"
    )
    trained = report.training_runs()
    intervals = [(b.started_at, b.completed_at) for b in trained if b.started_at and b.completed_at]
    click.echo(
        f"Training blocks: {len(trained)}, at most {max_concurrent(intervals)} at once "
        f"(block_run_limit {limit})"
    )
    failures = report.block("candidate_failures")
    if failures.status == "failed":
        click.echo(f"Failed candidates: {failures.error}")


def run_mage(
    entities: int, configs: Path | None, node_memory: str, task_memory: str, timeout: float
) -> None:
    """Prepare the database, the Mage virtualenv and a run folder; run; print the outcome."""
    from converge.commands.demo import h2o_cluster
    from converge.mage.runner import ensure_mage_venv, prepare_project, run_headless
    from converge.mage.steps import LABELS_FILE
    from resources.environments import NODE_MEMORY_ENV, TASK_MEMORY_ENV
    from resources.memory_split import training_concurrency
    from shared.db import database_url
    from shared.db.migrate import upgrade
    from shared.settings import Settings

    settings = Settings()
    limit = training_concurrency(node_memory, task_memory)
    _say("preparing the database (PostgreSQL)")
    url = database_url(settings)
    upgrade(url)
    home = settings.converge_home.resolve()
    mage_python = ensure_mage_venv(home, _say)
    workdir = home / "mage-runs" / time.strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True)
    project = prepare_project(workdir, limit)
    with h2o_cluster(node_memory, home / "h2o-logs") as h2o_url:
        converge_env = {
            "DATABASE_URL": url,
            "ARTIFACT_STORE_URI": settings.resolved_artifact_store_uri,
            "CONVERGE_HOME": str(home),
            "H2O_URL": h2o_url,
            NODE_MEMORY_ENV: node_memory,
            TASK_MEMORY_ENV: task_memory,
            **({"CONVERGE_MODEL_CONFIGS": str(configs.resolve())} if configs else {}),
        }
        os.environ.update(converge_env)
        _say(f"ingesting {entities} demo customers into the feature store")
        _ingest_demo(url, entities, workdir / LABELS_FILE)
        env = {
            **os.environ,
            "CONVERGE_BIN": str(Path(sys.executable).with_name("converge")),
            "MAGE_DATA_DIR": str(workdir / "mage_data"),
            "MAGE_DATABASE_CONNECTION_URL": f"sqlite:///{workdir / 'mage.db'}",
        }
        _say(f"running the Mage pipeline headless (block_run_limit {limit}), in {workdir}")
        report = run_headless(mage_python, project, workdir, env, timeout, _say)
    _print_outcome(report, workdir, limit)


@mage.command("run")
@demo_options
@click.option(
    "--timeout", default=RUN_TIMEOUT_S, show_default=True, help="Longest the run may take (s)."
)
def run(
    entities: int, configs: Path | None, node_memory: str, task_memory: str, timeout: float
) -> None:
    """Ingest demo data, train the fan-out as Mage dynamic blocks, register the champion (mage)."""
    started = time.monotonic()
    try:
        run_mage(entities, configs, node_memory, task_memory, timeout)
    except (MageRunError, ValueError) as exc:
        raise click.ClickException(f"mage run failed: {exc}") from exc
    _say(f"mage run finished in {time.monotonic() - started:.0f} s")

"""`converge demo`: the whole training graph on embedded defaults, with progress and a leaderboard.

No variables needed: an embedded PostgreSQL, a file artifact store and an H2O JVM started (and
stopped) here. DATABASE_URL, ARTIFACT_STORE_URI and H2O_URL are used when set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPOSITORY_ROOT / "workspace.yaml"


def _say(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}")


@contextmanager
def h2o_cluster(node_memory: str, log_dir: Path) -> Iterator[str]:
    """H2O_URL when set, else a local JVM sized by the memory split (stopped on exit)."""
    from resources.h2o import H2O_URL_ENV, start_local_cluster
    from resources.memory_split import split_memory

    if os.environ.get(H2O_URL_ENV):
        _say(f"using the H2O cluster at {os.environ[H2O_URL_ENV]}")
        yield os.environ[H2O_URL_ENV]
        return
    split = split_memory(node_memory)
    _say(f"starting a local H2O JVM (-Xmx{split.xmx} of {node_memory}; the rest is headroom)")
    cluster = start_local_cluster(split, log_dir)
    try:
        yield cluster.url
    finally:
        _say("stopping the local H2O JVM")
        cluster.shutdown()


def run_demo(entities: int, configs: Path | None, node_memory: str, task_memory: str) -> None:
    """Set up the local instance, run the graph and print the leaderboard and champion."""
    from dagster import DagsterInstance

    from assets.daemon import running_daemon
    from assets.leaderboard import latest_candidates, leaderboard_markdown, rank
    from assets.pipeline import train_all
    from resources.dagster_home import (
        DAGSTER_DATABASE,
        DAGSTER_DATABASE_ENV,
        prepare_local_dagster,
    )
    from resources.environments import NODE_MEMORY_ENV, TASK_MEMORY_ENV
    from resources.memory_split import training_concurrency
    from shared.settings import Settings

    settings = Settings()
    limit = training_concurrency(node_memory, task_memory)
    _say("preparing the database and the Dagster instance (PostgreSQL)")
    local = prepare_local_dagster(
        settings, limit, os.environ.get(DAGSTER_DATABASE_ENV, DAGSTER_DATABASE)
    )
    converge_home = settings.converge_home.resolve()
    with h2o_cluster(node_memory, converge_home / "h2o-logs") as h2o_url:
        env = {
            "DATABASE_URL": local.database_url,
            "ARTIFACT_STORE_URI": settings.resolved_artifact_store_uri,
            "CONVERGE_HOME": str(converge_home),
            "DAGSTER_HOME": str(local.dagster_home),
            "H2O_URL": h2o_url,
            # The code location derives the pool limit and configs per run from these.
            NODE_MEMORY_ENV: node_memory,
            TASK_MEMORY_ENV: task_memory,
            **({"CONVERGE_MODEL_CONFIGS": str(configs.resolve())} if configs else {}),
        }
        # In-process steps read the same variables as the queued runs.
        os.environ.update(env)
        instance = DagsterInstance.from_config(str(local.dagster_home))
        try:
            _say("starting dagster-daemon (it launches queued runs within the pool limit)")
            with running_daemon(
                local.dagster_home, WORKSPACE, env, local.dagster_home / "daemon.log"
            ):
                result = train_all(
                    instance,
                    pool_limit=limit,
                    features_config={"demo_entities": entities},
                    progress=_say,
                )
            _say("stopped dagster-daemon")
            candidates = latest_candidates(instance, result.candidates.trained)
            metric = str(result.champion["metric"])
            click.echo("\nLeaderboard (validation set):\n")
            click.echo(leaderboard_markdown(rank(list(candidates.values()), metric), metric))
        finally:
            instance.dispose()
    champion = result.champion
    verdict = "promoted to champion" if champion["promoted"] else "registered, not promoted"
    click.echo(
        f"\nChampion: {champion['config_name']} ({metric} {champion['value']:.4f}), "
        f"model_version {champion['model_version']}, {verdict}: {champion['reason']}"
    )
    failed = sorted(result.candidates.failures)
    if failed:
        click.echo(f"Failed candidates: {', '.join(failed)} (see their runs in the UI)")
    click.echo(
        "\nOpen the Dagster UI (asset graph, lineage, runs, leaderboard): converge ui\n"
        f"Dagster home: {local.dagster_home}"
    )


def demo_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every pipeline run on embedded defaults takes (`demo`, `mage run`)."""
    for option in reversed(
        (
            click.option(
                "--entities", default=1500, show_default=True, help="Demo customers to generate."
            ),
            click.option(
                "--configs",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                help="Model config matrix (YAML). Default: config/model_configs.yaml.",
            ),
            click.option(
                "--node-memory", default="8g", show_default=True, help="Memory for training."
            ),
            click.option(
                "--task-memory", default="4g", show_default=True, help="Memory per training."
            ),
        )
    ):
        command = option(command)
    return command


@click.command("demo")
@demo_options
def demo(entities: int, configs: Path | None, node_memory: str, task_memory: str) -> None:
    """Ingest demo data, train a fan-out of H2O candidates in Dagster, register the champion."""
    from assets.fanout import FanoutWaitTimeoutError
    from assets.model_configs import ModelConfigError
    from assets.pipeline import PipelineStepError

    started = time.monotonic()
    try:
        run_demo(entities, configs, node_memory, task_memory)
    except (PipelineStepError, FanoutWaitTimeoutError, ModelConfigError, ValueError) as exc:
        raise click.ClickException(f"demo failed: {exc}") from exc
    _say(f"demo finished in {time.monotonic() - started:.0f} s")

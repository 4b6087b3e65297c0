"""`converge ui`: the Dagster UI (asset graph, lineage, runs) on the local instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPOSITORY_ROOT / "workspace.yaml"


@click.command("ui")
@click.option("--port", default=3000, show_default=True, help="Port of the web UI.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def ui(port: int, host: str) -> None:
    """Start `dagster dev` (web UI and daemon) on converge's PostgreSQL-backed instance."""
    from resources.dagster_home import (
        DAGSTER_DATABASE,
        DAGSTER_DATABASE_ENV,
        prepare_local_dagster,
    )
    from resources.environments import get_training_policy
    from shared.settings import Settings

    settings = Settings()
    local = prepare_local_dagster(
        settings,
        # The same N as the code location's backfill policy (CONVERGE_NODE/TASK_MEMORY).
        get_training_policy().concurrency_limit(),
        os.environ.get(DAGSTER_DATABASE_ENV, DAGSTER_DATABASE),
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(local.dagster_home),
        "DATABASE_URL": local.database_url,
        "CONVERGE_HOME": str(settings.converge_home.resolve()),
        "ARTIFACT_STORE_URI": settings.resolved_artifact_store_uri,
    }
    command = [
        str(Path(sys.executable).with_name("dagster")),
        *("dev", "-w", str(WORKSPACE), "-h", host, "-p", str(port)),
    ]
    click.echo(f"Dagster UI on http://{host}:{port} (Ctrl-C stops it); home {local.dagster_home}")
    process = subprocess.Popen(command, cwd=REPOSITORY_ROOT, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        code = process.wait()
    if code not in (0, -15):
        raise click.ClickException(f"dagster dev exited with code {code}")

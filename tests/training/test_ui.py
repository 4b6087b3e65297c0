"""`converge ui` serves the Dagster UI with converge's asset graph and lineage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from shared.net import free_port
from tests.training.conftest import REPOSITORY_ROOT, drop_database

QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } groupName } }"


def _graphql(port: int) -> dict[str, tuple[str, list[str]]]:
    """asset -> (group, its upstream assets) as the UI's GraphQL API serves them."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        nodes = json.load(response)["data"]["assetNodes"]
    return {
        "/".join(node["assetKey"]["path"]): (
            node["groupName"],
            sorted("/".join(d["path"]) for d in node["dependencyKeys"]),
        )
        for node in nodes
    }


def test_ui_shows_the_asset_graph(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    dagster_database = f"dagster_ui_{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CONVERGE_HOME": str(tmp_path),
        "CONVERGE_DAGSTER_DATABASE": dagster_database,
    }
    converge = str(Path(sys.executable).with_name("converge"))
    process = subprocess.Popen(
        [converge, "ui", "--port", str(port)],
        cwd=REPOSITORY_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        graph: dict[str, tuple[str, list[str]]] = {}
        while time.monotonic() < deadline and process.poll() is None:
            try:
                graph = _graphql(port)
                if graph:
                    break
            except (urllib.error.URLError, ConnectionError, KeyError):
                pass  # not serving yet (or the code location is still loading)
            time.sleep(2)
        assert process.poll() is None, "converge ui exited early"
        assert graph == {
            "features": ("ingest", []),
            "labels": ("ingest", []),
            "training_frame": ("prepare", ["features", "labels"]),
            "model_configs": ("prepare", []),
            "candidate_model": ("train", ["model_configs", "training_frame"]),
            "champion_model": ("select", ["candidate_model", "training_frame"]),
        }
        assert (tmp_path / "dagster" / "dagster.yaml").is_file()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        drop_database(dagster_database)

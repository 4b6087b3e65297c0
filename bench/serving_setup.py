"""Set-up every serving bench shares: a scratch champion with its feature rows, `converge serve`
under uvicorn, and wrk with its pacing script.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import psycopg
from psycopg.types.json import Jsonb

from bench.scratch import scratch_database
from serving.launch import app_process, wait_until_ready
from shared.artifacts import open_artifact_store
from shared.db import database_url
from shared.db.connection import with_database
from shared.java import export_h2o_java_home
from shared.mojo import load_mojo
from shared.net import free_port
from shared.registry import NewModel, promote, register_model
from shared.versions import pinned_versions

ENTITIES = 1000
FEATURES = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
WRK_THREADS = 2

# wrk Lua, shared by every run: optional random pacing per connection, and latency percentiles
# (microseconds) printed as JSON at the end.
WRK_PACING = """
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "0")
-- Uniform in [0, 2 x pace]: the same mean rate, but connections do not stay in lockstep (with a
-- constant delay all of them send at the same instant: a burst of every connection at once).
-- wrk sends each connection's first request as it connects, unpaced: every run opens with a
-- burst of one request per connection, which the server must absorb (see max_in_flight).
delay = function() return math.random(0, 2 * pace_ms) end
done = function(summary, latency, requests)
  io.write(string.format('\\nBENCH {"p50": %d, "p99": %d, "requests": %d, "non2xx": %d, ' ..
    '"errors": %d, "seconds": %f}\\n', latency:percentile(50), latency:percentile(99),
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6))
end
"""


def train_mojo(out_dir: Path) -> Path:
    """A 50-tree GBM on the prostate data shipped with h2o (needs Java)."""
    import h2o
    from h2o.estimators import H2OGradientBoostingEstimator

    export_h2o_java_home()
    # A port of its own: at the default one, h2o.init joins (and would shut down) another's cloud.
    h2o.init(port=free_port(), nthreads=2, max_mem_size="2G", bind_to_localhost=True, verbose=False)
    try:
        frame = h2o.upload_file(str(Path(h2o.__file__).parent / "h2o_data" / "prostate.csv"))
        frame["CAPSULE"] = frame["CAPSULE"].asfactor()
        model = H2OGradientBoostingEstimator(ntrees=50, max_depth=5, seed=1)
        model.train(x=FEATURES, y="CAPSULE", training_frame=frame)
        return Path(model.download_mojo(str(out_dir)))
    finally:
        h2o.cluster().shutdown()


def install_champion(url: str, mojo: Path, store_uri: str) -> None:
    """`mojo` stored, registered and promoted as the champion, and features for ENTITIES rows."""
    stored = open_artifact_store(store_uri).put_file(mojo)
    new = NewModel(
        artifact_uri=stored.uri,
        artifact_sha256=stored.sha256,
        git_commit_sha="bench",
        h2o_version=pinned_versions().h2o_version,
        algo=load_mojo(mojo).algo,
        metrics={},
        training_config={},
        feature_list=FEATURES,
        orchestrator="cli",
    )
    with psycopg.connect(url) as conn:
        promote(conn, register_model(conn, new).model_version, "benchmark")
    add_entities(url, 0, ENTITIES)


def add_entities(url: str, first: int, count: int) -> None:
    """Feature rows for entities bench-`first` .. bench-`first + count - 1` (one COPY)."""
    copy = "COPY feature_store (entity_id, event_timestamp, dynamic_features) FROM STDIN"
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor().copy(copy) as rows:
        for i in range(first, first + count):
            features = {
                "AGE": 50 + i % 30,
                "RACE": 1,
                "DPROS": 1 + i % 4,
                "DCAPS": 1,
                "PSA": 1.0 + i % 90,
                "VOL": float(i % 40),
                "GLEASON": 5 + i % 4,
            }
            rows.write_row((f"bench-{i}", now, Jsonb(features)))


@contextlib.contextmanager
def uvicorn(env: dict[str, str], workers: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`converge serve` on a free port; yields (base URL, process) and stops it on exit."""
    port = free_port()
    serve = [sys.executable, "-c", "from converge.cli import main; main()", "serve"]
    options = ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    with app_process([*serve, *options], env) as process:
        yield f"http://127.0.0.1:{port}", process


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> float:
    """Seconds until `base`/ready said 200; a ClickException with the reason otherwise."""
    try:
        return wait_until_ready(base, process, timeout_s)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


def run_wrk(
    url: str, connections: int, seconds: int, script: Path | None, pace_ms: float = 0
) -> dict[str, float]:
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    if script is not None:
        args += ["-s", str(script)]
    env = {**os.environ, "BENCH_PACE_MS": f"{pace_ms:.3f}"}
    out = subprocess.run([*args, url], capture_output=True, text=True, env=env, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise click.ClickException(f"cannot read wrk's output:\n{out}")
    figures: dict[str, float] = {"rps": float(match[1])}
    bench = re.search(r"^BENCH (.*)$", out, re.MULTILINE)
    if bench:
        figures.update(json.loads(bench[1]))
    return figures


@contextlib.contextmanager
def served_champion(mojo: Path | None) -> Iterator[tuple[Path, dict[str, str]]]:
    """A scratch database with `mojo` (default: a trained GBM) as champion, and the serving
    environment pointing at it: (scratch folder, env). Needs wrk; raises the file limit."""
    if shutil.which("wrk") is None:
        raise click.ClickException("wrk is not installed (apt-get install -y wrk)")
    raise_file_limit()
    with (
        tempfile.TemporaryDirectory(prefix="converge-bench-") as tmp,
        scratch_database(with_database(database_url(), "postgres"), "converge_bench") as (_, url),
    ):
        root = Path(tmp)
        store_uri = (root / "artifacts").as_uri()
        install_champion(url, mojo or train_mojo(root), store_uri)
        yield (
            root,
            {
                **os.environ,
                "DATABASE_URL": url,
                "ARTIFACT_STORE_URI": store_uri,
                "CONVERGE_HOME": str(root / "home"),
            },
        )


def raise_file_limit() -> None:
    """Room for thousands of sockets in this process and the servers it starts (for good)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 65536)), hard))

"""`converge bench peers`: the same H2O models served by converge and by MLflow, side by side.

The peers are what an H2O user would pick instead: `mlflow models serve` (in its own virtualenv,
from bench/peers_env/requirements.lock, cached under .converge/ by the lock's hash) with
- `mlflow.h2o`, MLflow's built-in flavor (scores through an H2O JVM it starts), and
- `h2o_mlflow_flavor`, H2O's own package (the MOJO scored by genmodel's PredictCsv).
A GBM and the best StackedEnsemble of a small AutoML run (the leader if none was built) are trained
on a local H2O; each model's MOJO is converge's champion (a scratch database per model) and
h2o_mlflow_flavor's model, and the H2O model object is what mlflow.h2o saves; a peer that cannot
save or serve a model is named with the reason. Every server runs one worker on this machine and is
driven by the same wrk script at the same connections, after the same untimed warm-up run, for the
same duration (single-row requests), then sent the same N-row batch (MLflow's /invocations;
converge's /v1/predict/batch and the Open Inference Protocol's infer), timed against scoring the
same rows in-process (no process start). Prints throughput, p50/p99, cold start to first answer, RSS
(with child processes, such as a JVM) and converge/peer ratios, per model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
import psutil

from bench.scratch import scratch_database
from bench.serving_setup import FEATURES, WRK_PACING, install_champion, run_wrk
from shared.db import database_url
from shared.db.connection import with_database
from shared.mojo import MojoModel, load_mojo
from shared.net import free_port
from shared.versions import pinned_versions

LOCK = Path(__file__).parent / "peers_env" / "requirements.lock"
PEERS = ("mlflow-h2o", "h2o-mlflow-flavor")

# Run by the peers' virtualenv's Python: train a GBM and, unless told 0 models, a small AutoML run;
# save each (the AutoML run's leader) both MLflow ways and as a MOJO under out/<label>/.
PREPARE = """
import json, sys
from pathlib import Path
import h2o, mlflow.h2o, h2o_mlflow_flavor
from h2o.automl import H2OAutoML
from h2o.estimators import H2OGradientBoostingEstimator

out, ntrees, features = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
automl_models, port, serving_port = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
# Ports of their own: at the default one h2o.init joins (and here would shut down) another's cloud.
h2o.init(port=port, nthreads=2, max_mem_size="1500M", bind_to_localhost=True, verbose=False)
try:
    frame = h2o.upload_file(str(Path(h2o.__file__).parent / "h2o_data" / "prostate.csv"))
    frame["CAPSULE"] = frame["CAPSULE"].asfactor()
    gbm = H2OGradientBoostingEstimator(ntrees=ntrees, max_depth=5, seed=1)
    gbm.train(x=features, y="CAPSULE", training_frame=frame)
    trained = {"gbm": gbm}
    if automl_models:
        # Cross-validated, so AutoML stacks its base models; no XGBoost/DeepLearning to stay small.
        automl = H2OAutoML(
            max_models=automl_models, nfolds=3, seed=1, max_runtime_secs=600, verbosity=None,
            include_algos=["GLM", "DRF", "GBM", "StackedEnsemble"], project_name="bench_peers",
        )
        automl.train(x=features, y="CAPSULE", training_frame=frame)
        # The run's best StackedEnsemble, AutoML's usual leader: on prostate's 380 rows a single
        # GLM or GBM leads the board, and the ensemble is the model that puts a runtime to work.
        board = automl.leaderboard.as_data_frame()
        ensembles = [m for m in board["model_id"] if m.startswith("StackedEnsemble")]
        trained["automl"] = h2o.get_model(ensembles[0]) if ensembles else automl.leader
    prepared = {}
    for label, model in trained.items():
        folder = out / label
        folder.mkdir()
        refused = {}
        for peer, flavor in (("mlflow-h2o", mlflow.h2o), ("h2o-mlflow-flavor", h2o_mlflow_flavor)):
            try:
                # mlflow.h2o's server calls h2o.init(**settings["init"]); h2o_mlflow_flavor: no H2O.
                settings = {"init": {"port": serving_port, "bind_to_localhost": True}}
                extra = {"settings": settings} if peer == "mlflow-h2o" else {}
                flavor.save_model(model, str(folder / peer), **extra)
            except Exception as exc:  # that peer cannot serve this model: said in the report
                refused[peer] = f"cannot save it: {type(exc).__name__}: {exc}"
        mojo = model.download_mojo(str(folder))
        prepared[label] = {"mojo": mojo, "model_id": model.model_id, "refused": refused}
    print(json.dumps(prepared))
finally:
    h2o.cluster().shutdown()
"""

WRK_POST = (
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BENCH_BODY_FILE")):read("*a")
"""
    + WRK_PACING
)


def check_lock(lock: Path) -> None:
    """Refuse a lock that does not pin the versions versions.env gives the peers."""
    pinned = pinned_versions()
    wanted = {
        "mlflow": pinned.require("MLFLOW_PEER_VERSION"),
        "h2o": pinned.h2o_version,
        "h2o-mlflow-flavor": pinned.require("H2O_MLFLOW_FLAVOR_VERSION"),
    }
    text = lock.read_text()
    for name, version in wanted.items():
        if not re.search(rf"^{re.escape(name)}=={re.escape(version)} ", text, re.MULTILINE):
            raise click.ClickException(
                f"{lock} does not pin {name}=={version} (versions.env); regenerate it with the "
                "command in bench/peers_env/requirements.in"
            )


def peer_venv(lock: Path = LOCK) -> Path:
    """The peers' virtualenv, built from `lock` (with hashes) once per lock content."""
    check_lock(lock)
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    venv = Path(".converge") / "bench-peers" / f"venv-{digest}"
    if (venv / "bin" / "python").exists():
        return venv.resolve()
    staging = venv.with_name(venv.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    # Relocatable: the scripts must still work once the directory is renamed below.
    subprocess.run(
        [uv, "venv", "--quiet", "--relocatable", "--python", "3.11", str(staging)], check=True
    )
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(staging / "bin" / "python"),
         "--require-hashes", "-r", str(lock)],
        check=True,
    )  # fmt: skip
    staging.rename(venv)  # only a complete environment gets the cached name
    return venv.resolve()


def sample_rows(count: int) -> list[dict[str, float]]:
    """`count` feature rows for the prostate GBM (the same rows for every server)."""
    return [
        {
            "AGE": float(50 + i % 30),
            "RACE": float(1 + i % 2),
            "DPROS": float(1 + i % 4),
            "DCAPS": float(1 + i % 2),
            "PSA": 1.0 + i % 90,
            "VOL": float(i % 40),
            "GLEASON": float(5 + i % 4),
        }
        for i in range(count)
    ]


@dataclass(frozen=True)
class Server:
    """One way of serving the model: how to start it and how to ask it."""

    name: str
    argv: list[str]
    single_path: str
    batch_paths: dict[str, str]  # label -> path of a batch request

    def single_body(self, row: dict[str, float]) -> bytes:
        """One row, in this server's request format."""
        if self.single_path == "/invocations":
            return json.dumps(_dataframe_split([row])).encode()
        return json.dumps({"features": row}).encode()

    def batch_body(self, path: str, rows: list[dict[str, float]]) -> bytes:
        """Many rows, in the format `path` takes."""
        if path == "/invocations":
            return json.dumps(_dataframe_split(rows)).encode()
        if path.startswith("/v2/"):
            inputs = [
                {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": [r[c] for r in rows]}
                for c in FEATURES
            ]
            return json.dumps({"inputs": inputs}).encode()
        return json.dumps({"rows": rows}).encode()


def _dataframe_split(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "dataframe_split": {"columns": FEATURES, "data": [[r[c] for c in FEATURES] for r in rows]}
    }


@contextlib.contextmanager
def _started(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):  # it may have exited on its own
            for child in psutil.Process(process.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.terminate()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _first_answer(url: str, body: bytes, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"{url} exited early; its log:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.post(url, content=body, headers=_JSON, timeout=60)
            if answer.status_code == 200:
                return
        time.sleep(0.1)
    raise click.ClickException(
        f"{url} gave no answer within 300 s; log:\n{log.read_text()[-3000:]}"
    )


_JSON = {"content-type": "application/json"}


def _rss_mb(process: subprocess.Popen[bytes]) -> float:
    """RSS of the server and every process it started (an H2O JVM counts)."""
    root = psutil.Process(process.pid)
    total: int = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    return total / 2**20


def measure(
    server: Server,
    env: dict[str, str],
    root: Path,
    rows: list[dict[str, float]],
    load: dict[str, int],
) -> dict[str, float]:
    """Cold start, RSS, wrk figures for single rows, and each batch route's median time."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [part.replace("__PORT__", str(port)) for part in server.argv]
    log = root / f"{server.name}.log"
    single = server.single_body(rows[0])
    started = time.perf_counter()
    with _started(argv, env, log) as process:
        _first_answer(base + server.single_path, single, process, log)
        figures: dict[str, float] = {"cold_s": time.perf_counter() - started}
        body_file = root / f"{server.name}-single.json"
        body_file.write_bytes(single)
        script = root / "post.lua"
        script.write_text(WRK_POST)
        os.environ["BENCH_BODY_FILE"] = str(body_file)
        if load["warmup"]:  # untimed, at the same load: every server gets its JIT, caches ready
            run_wrk(base + server.single_path, load["connections"], load["warmup"], script)
            # What the warm-up left queued is answered before this one: the timed run starts idle.
            httpx.post(base + server.single_path, content=single, headers=_JSON, timeout=600)
        wrk = run_wrk(base + server.single_path, load["connections"], load["seconds"], script)
        figures.update(rps=wrk["rps"], p50_ms=wrk["p50"] / 1000, p99_ms=wrk["p99"] / 1000)
        figures["non2xx"] = wrk.get("non2xx", 0.0) + wrk.get("errors", 0.0)
        # One client for every timed request, the same for every server: a new client per
        # request spent ~30 ms of CPU on its SSL context, as much as scoring the rows.
        with httpx.Client(headers=_JSON, timeout=600) as client:
            for label, path in server.batch_paths.items():
                body = server.batch_body(path, rows)
                times = []
                for _ in range(load["repeats"]):
                    sent = time.perf_counter()
                    answer = client.post(base + path, content=body)
                    times.append(time.perf_counter() - sent)
                    if answer.status_code != 200:
                        raise click.ClickException(f"{server.name} {path}: {answer.text[:500]}")
                figures[f"batch_s:{label}"] = statistics.median(times)
        figures["rss_mb"] = _rss_mb(process)
    return figures


def in_process_s(mojo: Path, rows: list[dict[str, float]], repeats: int) -> float:
    """Median time of scoring `rows` with the MOJO runtime in this process (no process start)."""
    model = load_mojo(mojo)
    assert isinstance(model, MojoModel)  # an H2O-3 MOJO, trained above
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict_rows(rows)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def servers(venv: Path, models: Path, peers: tuple[str, ...]) -> list[Server]:
    """converge, then the chosen MLflow peers."""
    serve = [sys.executable, "-c", "from converge.cli import main; main()", "serve"]
    found = [
        Server(
            "converge",
            [*serve, "--port", "__PORT__", "--workers", "1", "--log-level", "warning"],
            "/v1/predict",
            {"rows": "/v1/predict/batch", "oip": "/v2/models/champion/infer"},
        )
    ]
    mlflow = [str(venv / "bin" / "python"), "-m", "mlflow"]
    for peer in peers:
        argv = [*mlflow, "models", "serve", "-m", str(models / peer), "--env-manager", "local"]
        argv += ["-h", "127.0.0.1", "-p", "__PORT__", "-w", "1"]
        found.append(Server(peer, argv, "/invocations", {"rows": "/invocations"}))
    return found


def report(
    results: dict[str, dict[str, float]],
    refused: dict[str, str],
    local_s: float,
    batch_rows: int,
) -> None:
    """The figures, the peers that could not serve the model and why, then converge/peer ratios."""
    for name, figures in results.items():
        batches = ", ".join(
            f"{key.split(':')[1]} {value * 1000:.0f} ms"
            for key, value in figures.items()
            if key.startswith("batch_s:")
        )
        click.echo(
            f"{name}: cold start {figures['cold_s']:.1f} s, RSS {figures['rss_mb']:.0f} MB, "
            f"single rows {figures['rps']:.1f} req/s (p50 {figures['p50_ms']:.1f} ms, p99 "
            f"{figures['p99_ms']:.1f} ms, errors {figures['non2xx']:.0f}); "
            f"{batch_rows}-row batch: {batches}"
        )
    for name, reason in refused.items():
        click.echo(f"{name}: cannot serve this model: {reason}")
    click.echo(f"in-process scoring of the same {batch_rows} rows: {local_s * 1000:.0f} ms")
    ours = results["converge"]
    click.echo(
        f"converge batch / in-process: {ours['batch_s:rows'] / local_s:.2f} "
        f"(rows), {ours['batch_s:oip'] / local_s:.2f} (oip) (goal <= 1.5)"
    )
    for name, figures in results.items():
        if name == "converge":
            continue
        if not figures["rps"]:
            click.echo(f"converge / {name}: no ratio, {name} answered no request in the timed run")
            continue
        ratio = {key: ours[key] / figures[key] for key in ("rps", "p50_ms", "p99_ms")}
        click.echo(
            f"converge / {name}: throughput x{ratio['rps']:.1f}, p50 {ratio['p50_ms']:.4f}, "
            f"p99 {ratio['p99_ms']:.4f}, cold start {ours['cold_s'] / figures['cold_s']:.2f}, RSS "
            f"{ours['rss_mb'] / figures['rss_mb']:.2f}; batch speed-up x"
            f"{figures['batch_s:rows'] / ours['batch_s:rows']:.1f} (goal >= 3)"
        )


@dataclass(frozen=True)
class Prepared:
    """One trained model: its MOJO, H2O's model id, and the peers that could not save it (why)."""

    label: str
    mojo: Path
    model_id: str
    refused: dict[str, str]


def prepare(venv: Path, root: Path, ntrees: int, automl_models: int) -> list[Prepared]:
    """The GBM and (unless 0 models) the AutoML leader, trained by the peers' H2O and saved."""
    arguments = [str(root), str(ntrees), ",".join(FEATURES), str(automl_models)]
    arguments += [str(free_port()), str(free_port())]
    prepared = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PREPARE, *arguments], capture_output=True, text=True
    )
    if prepared.returncode != 0:
        raise click.ClickException(f"training the models failed:\n{prepared.stderr[-3000:]}")
    found = json.loads(prepared.stdout.strip().splitlines()[-1])
    return [
        Prepared(label, Path(model["mojo"]), model["model_id"], model["refused"])
        for label, model in found.items()
    ]


def compare(
    model: Prepared, venv: Path, peers: tuple[str, ...], load: dict[str, int], batch_rows: int
) -> None:
    """Every server on `model`, in a scratch database of its own, then the report."""
    root = model.mojo.parent
    with scratch_database(with_database(database_url(), "postgres"), "converge_peers") as (_, url):
        store_uri = (root / "artifacts").as_uri()
        install_champion(url, model.mojo, store_uri)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "ARTIFACT_STORE_URI": store_uri,
            "CONVERGE_HOME": str(root / "home"),
            "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        }
        rows = sample_rows(batch_rows)
        results: dict[str, dict[str, float]] = {}
        refused = {name: reason for name, reason in model.refused.items() if name in peers}
        for server in servers(venv, root, tuple(p for p in peers if p not in refused)):
            try:
                results[server.name] = measure(server, env, root, rows, load)
            except click.ClickException as exc:
                if server.name == "converge":  # converge must serve what it promotes
                    raise
                refused[server.name] = exc.message
        report(results, refused, in_process_s(model.mojo, rows, load["repeats"]), batch_rows)


@click.command("peers")
@click.option("--ntrees", default=50, show_default=True, help="Trees of the GBM served.")
@click.option(
    "--automl-models",
    default=4,
    show_default=True,
    help="Base models of the AutoML run whose leader is served too (0: the GBM only).",
)
@click.option("--seconds", default=10, show_default=True, help="wrk duration per server.")
@click.option(
    "--warmup-seconds",
    default=3,
    show_default=True,
    help="Untimed wrk run before the timed one, on every server (0: none).",
)
@click.option("--connections", default=8, show_default=True, help="wrk connections.")
@click.option("--batch-rows", default=10_000, show_default=True, help="Rows of the batch request.")
@click.option("--repeats", default=5, show_default=True, help="Batch requests timed per route.")
@click.option(
    "--peer", "peers", multiple=True, type=click.Choice(PEERS), default=PEERS, show_default=True
)
def command(
    ntrees: int,
    automl_models: int,
    seconds: int,
    warmup_seconds: int,
    connections: int,
    batch_rows: int,
    repeats: int,
    peers: tuple[str, ...],
) -> None:
    """converge vs `mlflow models serve` (mlflow.h2o, h2o_mlflow_flavor) on the same models."""
    if shutil.which("wrk") is None:
        raise click.ClickException("wrk is not installed (apt-get install -y wrk)")
    venv = peer_venv()
    load = {
        "connections": connections,
        "seconds": seconds,
        "warmup": warmup_seconds,
        "repeats": repeats,
    }
    click.echo(f"cores: {os.cpu_count()}; one worker per server; wrk: 2 threads, {load}")
    with tempfile.TemporaryDirectory(prefix="converge-peers-") as tmp:
        for model in prepare(venv, Path(tmp), ntrees, automl_models):
            algo = load_mojo(model.mojo).algo
            click.echo(f"== {model.label}: {model.model_id} ({algo})")
            compare(model, venv, peers, load, batch_rows)

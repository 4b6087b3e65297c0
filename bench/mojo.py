"""`converge bench mojo`: converge's MOJO runtime against h2o-genmodel, in one run.

The baseline is genmodel warm and in process (`bench/java/Bench.java`: EasyPredictModelWrapper
after a JIT warm-up, the same rows as text): rows/s over the same rows and single-row latency, with
converge's in-memory `predict` (text frame in, parsing included, one thread) and `predict_rows`;
then `predict` on every core against one thread. Also printed:
PredictCsv CSV to CSV (JVM start-up included, and without it), cold load time and peak RSS of a
fresh process (with and without pandas), and the forest evaluator (numba) against treelite's gtil
on the same XGBoost trees. Without `--mojo` it trains its own GBM and XGBoost models on a local H2O
(a JVM is needed for training and the genmodel baselines only).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
import pandas as pd

from converge.commands.mojo import read_predict_csv, write_predictions_csv
from shared.java import export_h2o_java_home, java_executable
from shared.mojo import load_mojo
from shared.mojo.model import MojoModel
from shared.mojo.threads import available_cores

TARGET_RATIO = 3.0
TARGET_P99_MS = 1.0
TARGET_COLD_S = 2.0
TARGET_RSS_MB = 200.0
TARGET_THREAD_SPEEDUP = 1.7
TARGET_PER_CORE = 2.0
THREAD_PAIRS = 5  # one-thread / every-core timings, alternating

COLD_LOAD = """
import time
started = time.perf_counter()
import sys
if sys.argv[2] == "frame":
    import pandas as pd
imports_s = time.perf_counter() - started
from shared.mojo import load_mojo
model = load_mojo(sys.argv[1])
if sys.argv[2] == "frame":
    model.predict(pd.DataFrame({name: [None] for name in model.columns}))
else:
    model.predict_rows([{}])
elapsed = time.perf_counter() - started
# VmHWM is this process's own peak (ru_maxrss would report the forking parent's peak).
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(elapsed, imports_s, int(status) / 1024)
"""


def _model(path: Path) -> MojoModel:
    model = load_mojo(path)
    if not isinstance(model, MojoModel):
        raise click.ClickException(f"{path} is not an H2O-3 MOJO")
    return model


def synthetic_input(model: MojoModel, rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows for the model's columns as CSV text: 5% missing, 1% unseen levels, wide numerics."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for name in model.columns:
        levels = model.domains.get(name)
        if levels is None:
            values = np.char.mod("%.6g", rng.normal(0, 20, rows)).astype(object)
        else:
            values = np.asarray(levels, dtype=object)[rng.integers(0, len(levels), rows)]
            values[rng.random(rows) < 0.01] = "level_never_seen"
        values[rng.random(rows) < 0.05] = ""
        columns[name] = values
    return pd.DataFrame(columns)


def train_models(directory: Path) -> tuple[Path, Path, Path]:
    """Train a 50-tree GBM and XGBoost on a synthetic set; returns both MOJOs and genmodel's jar."""
    import h2o
    from h2o.estimators import H2OGradientBoostingEstimator, H2OXGBoostEstimator

    rng = np.random.default_rng(1)
    n = 20_000
    frame = pd.DataFrame({f"x{i}": rng.normal(0, 20, n) for i in range(10)})
    frame["segment"] = [f"s{i}" for i in rng.integers(0, 200, n)]
    frame["channel"] = rng.choice(["web", "store", "phone"], n)
    margin = frame["x0"] / 10 + frame["x1"] / 20 - (frame["channel"] == "web") + rng.normal(0, 1, n)
    frame["label"] = np.where(margin > 0, "yes", "no")
    export_h2o_java_home()
    h2o.init(nthreads=2, max_mem_size="2G", bind_to_localhost=True, verbose=False)
    h2o.no_progress()
    try:
        data = h2o.H2OFrame(
            frame, column_types={"segment": "enum", "channel": "enum", "label": "enum"}
        )
        features = [c for c in frame.columns if c != "label"]
        paths = []
        for estimator in (
            H2OGradientBoostingEstimator(ntrees=50, max_depth=5, seed=1),
            H2OXGBoostEstimator(ntrees=50, max_depth=5, seed=1),
        ):
            estimator.train(x=features, y="label", training_frame=data)
            exported = estimator.download_mojo(path=str(directory), get_genmodel_jar=True)
            paths.append(Path(exported))
    finally:
        h2o.cluster().shutdown()
    return paths[0], paths[1], directory / "h2o-genmodel.jar"


def timed(call: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def cpu_timed(call: Callable[[], object]) -> float:
    """CPU seconds this process spent in one call (robust to other load on the machine)."""
    started = time.process_time()
    call()
    return time.process_time() - started


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def single_row_latency(call: Callable[[int], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall and thread-CPU milliseconds of `call(i)` for i in range(runs), after a warm-up."""
    for i in range(50):
        call(i)
    wall, cpu = [], []
    for i in range(runs):
        started, cpu_started = time.perf_counter(), time.thread_time()
        call(i)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - cpu_started) * 1000)
    return wall, cpu


def predict_csv_seconds(jar: Path, mojo: Path, csv_in: Path, csv_out: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all JVM threads) of one PredictCsv run, JVM start-up included."""
    command = [str(java_executable()), "-cp", str(jar), "hex.genmodel.tools.PredictCsv"]
    command += ["--mojo", str(mojo), "--input", str(csv_in), "--output", str(csv_out), "--decimal"]
    cpu_before = _children_cpu()
    wall = timed(lambda: subprocess.run(command, check=True, capture_output=True))
    return wall, _children_cpu() - cpu_before


def warm_genmodel(
    jar: Path, mojo: Path, csv_in: Path, warmup_s: float, latency_rows: int
) -> dict[str, float]:
    """genmodel in process after a JIT warm-up (Bench.java): rows/s and single-row p50/p99 ms."""
    harness = Path(__file__).with_name("java") / "Bench.java"
    command = [str(java_executable()), "-cp", str(jar), str(harness), str(mojo), str(csv_in)]
    command += [str(warmup_s), "3", str(latency_rows)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def evaluator_comparison(mojo: Path, rows: pd.DataFrame) -> str:
    """numba forest kernel vs treelite gtil on the same XGBoost trees and one-hot input."""
    import treelite
    from treelite import gtil

    from shared.mojo.kernel import score_forest
    from shared.mojo.xgboost_model import XGBoostScorer

    model = _model(mojo)
    assert isinstance(model.scorer, XGBoostScorer)
    one_hot = model.scorer.one_hot(model.encoder.encode(rows))
    forest = model.scorer.forest
    ours = np.zeros((len(one_hot), 1))
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(mojo) as bundle:
        booster = Path(scratch) / "booster.bin"
        booster.write_bytes(bundle.read("boosterBytes"))
        reference = treelite.frontend.load_xgboost_model_legacy_binary(booster)
    as_float32 = one_hot.astype(np.float32)
    numba_s = min(
        timed(lambda: score_forest(forest, one_hot, np.zeros_like(ours), True)) for _ in range(3)
    )
    gtil_s = min(
        timed(lambda: gtil.predict(reference, as_float32, nthread=1, pred_margin=True))
        for _ in range(3)
    )
    score_forest(forest, one_hot, ours, True)
    theirs = np.asarray(gtil.predict(reference, as_float32, nthread=1, pred_margin=True)).reshape(
        -1
    )
    agreement = float(np.max(np.abs(ours[:, 0] + model.scorer.base_margin - theirs)))
    n = len(one_hot)
    return (
        f"evaluator (XGBoost 50 trees, 1 thread): numba {n / numba_s:,.0f} rows/s, "
        f"treelite gtil {n / gtil_s:,.0f} rows/s (numba/gtil {gtil_s / numba_s:.2f}x), "
        f"max |margin difference| {agreement:.2e}"
    )


@click.command()
@click.option("--mojo", "mojo_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--genmodel-jar", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rows", default=100_000, show_default=True, help="Rows in the throughput input.")
@click.option("--latency-runs", default=2_000, show_default=True)
@click.option(
    "--warmup-seconds", default=10.0, show_default=True, help="JIT warm-up of warm genmodel."
)
def command(
    mojo_path: Path | None,
    genmodel_jar: Path | None,
    rows: int,
    latency_runs: int,
    warmup_seconds: float,
) -> None:
    """converge's MOJO runtime vs warm genmodel and PredictCsv: throughput, latency, cold load."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        xgboost_mojo: Path | None = None
        if mojo_path is None:
            click.echo("training a 50-tree GBM and XGBoost on local H2O ...")
            mojo_path, xgboost_mojo, trained_jar = train_models(work)
            genmodel_jar = genmodel_jar or trained_jar
        if genmodel_jar is None:
            raise click.UsageError("--genmodel-jar is needed with --mojo (the genmodel baseline)")
        model = _model(mojo_path)
        if model.algo == "xgboost":
            xgboost_mojo = mojo_path
        frame = synthetic_input(model, rows)
        csv_in, one_row_csv = work / "input.csv", work / "one_row.csv"
        frame.to_csv(csv_in, index=False)
        frame.head(1).to_csv(one_row_csv, index=False)
        click.echo(
            f"model: {model.algo} {model.category}, {len(model.columns)} columns; {rows:,} rows"
        )

        # Single-threaded unless said otherwise: genmodel's PredictCsv and Bench.java are.
        model.predict(frame, threads=1)  # warm: numba kernel loaded, arrow kernels touched
        in_memory_cpu = min(cpu_timed(lambda: model.predict(frame, threads=1)) for _ in range(3))
        cores = available_cores()
        # One thread and every core alternately, best of each: a burst of other load on the
        # machine meets both sides instead of only the later one.
        pairs = [
            (
                timed(lambda: model.predict(frame, threads=1)),
                timed(lambda: model.predict(frame, threads=cores)),
            )
            for _ in range(THREAD_PAIRS)
        ]
        in_memory_s = min(one for one, _ in pairs)
        threaded_s = min(every for _, every in pairs)

        def end_to_end() -> None:
            scored = model.predict(read_predict_csv(csv_in), threads=1)
            write_predictions_csv(scored, work / "ours.csv")

        converge_s = min(timed(end_to_end) for _ in range(3))
        converge_cpu = min(cpu_timed(end_to_end) for _ in range(3))
        genmodel_s, genmodel_cpu = predict_csv_seconds(
            genmodel_jar, mojo_path, csv_in, work / "g.csv"
        )
        one_s, one_cpu = predict_csv_seconds(genmodel_jar, mojo_path, one_row_csv, work / "one.csv")
        scoring_s = max(genmodel_s - one_s, 1e-9)
        ratio = genmodel_s / converge_s
        cpu_ratio = genmodel_cpu / converge_cpu
        click.echo("                     wall rows/s     CPU rows/s")
        click.echo(
            f"converge in memory   {rows / in_memory_s:12,.0f} {rows / in_memory_cpu:14,.0f}"
        )
        click.echo(f"converge {cores} threads {rows / threaded_s:12,.0f}")
        click.echo(f"converge CSV->CSV    {rows / converge_s:12,.0f} {rows / converge_cpu:14,.0f}")
        click.echo(f"genmodel PredictCsv  {rows / genmodel_s:12,.0f} {rows / genmodel_cpu:14,.0f}")
        click.echo(
            f"genmodel 1 row: {one_s:.2f} s wall, {one_cpu:.2f} s CPU (JVM start-up, model load)"
        )
        click.echo(f"genmodel without start-up: {rows / scoring_s:,.0f} rows/s wall")
        click.echo(
            f"ratio converge/genmodel CSV->CSV: wall {ratio:.1f}x, CPU {cpu_ratio:.1f}x, "
            f"wall without JVM start {scoring_s / converge_s:.1f}x (target >= {TARGET_RATIO}x)"
        )

        warm = warm_genmodel(genmodel_jar, mojo_path, csv_in, warmup_seconds, latency_runs)
        warm_ratio = warm["rows_per_s"] / rows * in_memory_s
        click.echo(
            f"genmodel warm, in process (EasyPredictModelWrapper, after {warmup_seconds:.0f} s of "
            f"JIT warm-up, {warm['warmup_passes']:.0f} passes): {warm['rows_per_s']:,.0f} rows/s; "
            f"single row p50 {warm['p50_ms']:.3f} ms p99 {warm['p99_ms']:.3f} ms"
        )
        click.echo(
            f"ratio converge in memory / warm genmodel: {1 / warm_ratio:.1f}x "
            f"(both single-threaded, rows given as text, parsing included; target >= "
            f"{TARGET_RATIO}x)"
        )
        # CPU time of the scoring thread on both sides: the ratio a shared machine cannot skew.
        cpu_warm_ratio = rows / in_memory_cpu / warm["cpu_rows_per_s"]
        click.echo(
            f"by CPU time: converge in memory {rows / in_memory_cpu:,.0f} rows/s, warm genmodel "
            f"{warm['cpu_rows_per_s']:,.0f} rows/s (its scoring thread): {cpu_warm_ratio:.1f}x"
        )
        speedup = in_memory_s / threaded_s
        click.echo(
            f"threads: {cores} threads {speedup:.2f}x one thread (target >= "
            f"{TARGET_THREAD_SPEEDUP}x on 2 cores); per core {speedup / cores / warm_ratio:.1f}x "
            f"warm single-thread genmodel by wall clock, {speedup / cores * cpu_warm_ratio:.1f}x "
            f"by CPU time (target >= {TARGET_PER_CORE}x)"
        )

        records = [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]
        row_calls: dict[str, Callable[[int], object]] = {
            # serving's path: plain mappings in, plain values out, no pandas
            "predict_rows": lambda i: model.predict_rows([records[i % rows]]),
            # the same row as a one-row frame, for comparison in this run
            "predict (pandas frame)": lambda i: model.predict(frame.iloc[[i % rows]]),
        }
        for label, call in row_calls.items():
            wall, cpu = single_row_latency(call, latency_runs)
            click.echo(
                f"single row, {label}: wall p50 {statistics.median(wall):.3f} ms "
                f"p99 {float(np.percentile(wall, 99)):.3f} ms; CPU p50 "
                f"{statistics.median(cpu):.3f} ms p99 {float(np.percentile(cpu, 99)):.3f} ms "
                f"(target p99 < {TARGET_P99_MS} ms)"
            )

        for mode, label in (("rows", "predict_rows, no pandas"), ("frame", "with pandas")):
            for attempt in ("first", "second"):
                done = subprocess.run(
                    [sys.executable, "-c", COLD_LOAD, str(mojo_path), mode],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                seconds, imports_s, rss_mb = (float(v) for v in done.stdout.split())
                click.echo(
                    f"cold load ({label}), {attempt} fresh process (imports + load + 1 "
                    f"prediction): {seconds:.2f} s, of which importing pandas {imports_s:.2f} s "
                    f"(target < {TARGET_COLD_S} s); peak RSS {rss_mb:.0f} MB "
                    f"(target < {TARGET_RSS_MB} MB)"
                )
        bench_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        click.echo(f"this benchmark process peak RSS {bench_rss_mb:.0f} MB")
        if xgboost_mojo is not None:
            click.echo(evaluator_comparison(xgboost_mojo, frame))
        summary = {
            "rows": rows,
            "ratio": round(ratio, 2),
            "cpu_ratio": round(cpu_ratio, 2),
            "warm_ratio": round(1 / warm_ratio, 2),
            "cpu_warm_ratio": round(cpu_warm_ratio, 2),
            "thread_speedup": round(speedup, 2),
        }
        click.echo(json.dumps(summary))

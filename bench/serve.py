"""`converge bench serve`: the serving app under wrk with 2 uvicorn workers, vs same-run baselines.

Prints, with the machine's core count:
- /v1/predict throughput as a ratio of a bare async route (/health) measured in the same run
  (goal >= 0.6);
- at 1000 open connections and an offered load of half the measured maximum: p99 latency (goal
  < 100 ms) and each worker's event-loop lag p99 from its own histogram (goal < 10 ms);
- cold start of one worker to /ready with an empty numba cache, compiling the kernels vs with the
  kernel cache shipped in the image (goal < 2 s), and RSS per worker (goal < 500 MB);
- /v1/predict in a closed loop by what its feature lookups find, each as a ratio of the same /health
  run, with the entities each source served (the workers' own counters): a warm Redis; half known
  (cached) and half unknown entities (Redis and PostgreSQL miss: the default vector); an empty
  Redis (this run's keys deleted, then a new entity per request: every lookup reads PostgreSQL and
  writes the row back). The server runs with a cache key prefix of its own, so emptying it leaves
  other users of the same Redis alone.
It builds its own scratch database (on DATABASE_URL's server), artifact store and champion: the
MOJO given with --mojo, or a small GBM trained on a local H2O. wrk is a bench dependency
(`apt-get install -y wrk`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
import psutil
import psycopg
import redis
from prometheus_client.parser import text_string_to_metric_families
from psycopg.types.json import Jsonb

from bench.scratch import scratch_database
from serving.launch import app_process, wait_until_ready
from serving.prometheus_text import (
    QuantileEstimate,
    histogram_buckets,
    histogram_quantile,
    sample_value,
)
from shared.artifacts import open_artifact_store
from shared.db import database_url
from shared.db.connection import with_database
from shared.feature_cache import invalidate
from shared.java import export_h2o_java_home
from shared.kernel_cache import build_cache
from shared.mojo import load_mojo
from shared.net import free_port
from shared.registry import NewModel, promote, register_model
from shared.settings import get_settings
from shared.versions import pinned_versions

TARGET_RATIO = 0.6
TARGET_P99_MS = 100.0
TARGET_LAG_P99_MS = 10.0
TARGET_COLD_S = 2.0
COLD_STARTS = 2  # of each kind: compiling the kernels, and with the shipped kernel cache
KERNEL_CACHE_ENV = "CONVERGE_SERVING_KERNEL_CACHE"
TARGET_RSS_MB = 500.0
ENTITIES = 1000
FEATURES = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
LAG = "converge_event_loop_lag_seconds"

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
# ... plus, for /v1/predict: POST {"entity_id": ENTITY} per request, ENTITY a Lua expression.
WRK_ENTITY = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
__SETUP__
request = function()
  return wrk.format(nil, nil, nil, string.format('{"entity_id": "%s"}', __ENTITY__))
end
"""
# One of ENTITIES known entities at random: all cached once a warm-up asked for them.
KNOWN = 'string.format("bench-%d", math.random(0, __ENTITIES__ - 1))'
# Half known entities, half unknown ones (no row: the default vector, never cached).
HALF_UNKNOWN = (
    'string.format(math.random(2) == 1 and "bench-%d" or "unknown-%d", '
    "math.random(0, __ENTITIES__ - 1))"
)
# Entities bench-__FIRST__ onwards, each asked once: wrk thread t takes __FIRST__ + t + k x threads.
FRESH_SETUP = """
local created = 0
setup = function(thread) thread:set("offset", created); created = created + 1 end
local step = -1
next_fresh = function() step = step + 1; return __FIRST__ + offset + __THREADS__ * step end
"""
FRESH = 'string.format("bench-%d", next_fresh())'
WRK_THREADS = 2
FEATURE_SOURCE = "converge_feature_source_total"
FALLBACKS = "converge_feature_fallbacks_total"


@dataclass(frozen=True)
class Scenario:
    """One /v1/predict load: which entities each request asks for, and what that means."""

    label: str
    entity: str  # Lua expression of the entity_id (see WRK_ENTITY)
    meaning: str
    setup: str = ""

    def script(self, **values: int) -> str:
        """The wrk Lua script, with the placeholders (__ENTITIES__, ...) filled in."""
        text = WRK_ENTITY.replace("__SETUP__", self.setup).replace("__ENTITY__", self.entity)
        for name, value in {"ENTITIES": ENTITIES, "THREADS": WRK_THREADS, **values}.items():
            text = text.replace(f"__{name}__", str(value))
        return text + WRK_PACING


WARM = Scenario("warm Redis", KNOWN, "every entity cached by the warm-up")
MIXED = Scenario(
    "50/50 known/unknown",
    HALF_UNKNOWN,
    "known: cached; unknown: Redis miss, PostgreSQL miss, default vector",
)
EMPTY = Scenario(
    "empty Redis",
    FRESH,
    "this run's keys deleted first, then every request a new entity: Redis miss, "
    "PostgreSQL read, write-back",
    FRESH_SETUP,
)


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


def _worker_metrics(base: str, workers: int, scrapes: int = 200) -> dict[int, str]:
    """Each worker's /metrics text, by pid (scraped until every worker answered).

    Each scrape opens a new connection: a kept-alive one would reach the same worker every time.
    """
    seen: dict[int, str] = {}
    for _ in range(scrapes):
        text = httpx.get(base + "/metrics", headers={"connection": "close"}, timeout=5).text
        pid = sample_value(text, "converge_worker_pid")
        if pid is not None:
            seen[int(pid)] = text
        if len(seen) == workers:
            break
    return seen


def _worker_lag(base: str, workers: int) -> dict[int, dict[float, float]]:
    """Each worker's loop-lag buckets, by pid."""
    return {
        pid: histogram_buckets(text, LAG) for pid, text in _worker_metrics(base, workers).items()
    }


def _sources(base: str, workers: int) -> Counter[str]:
    """Entities served by each feature source (cache, db, default) and lookups that fell back
    from a failed or refused dependency (redis, postgres), summed over the workers."""
    served: Counter[str] = Counter()
    for text in _worker_metrics(base, workers).values():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == FEATURE_SOURCE:
                    served[sample.labels["source"]] += int(sample.value)
                elif sample.name == FALLBACKS:
                    served[f"{sample.labels['dependency']} fallback"] += int(sample.value)
    return served


def _cpu_s(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes."""
    root = psutil.Process(process.pid)
    total = 0.0
    for member in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _wrk_cpu(
    process: subprocess.Popen[bytes],
    url: str,
    connections: int,
    seconds: int,
    script: Path | None,
    pace_ms: float = 0,
) -> dict[str, float]:
    """`run_wrk` plus the server's CPU milliseconds per request (robust to other load)."""
    cpu_before, started = _cpu_s(process), time.perf_counter()
    figures = run_wrk(url, connections, seconds, script, pace_ms)
    requests = figures["rps"] * (time.perf_counter() - started)
    figures["cpu_ms"] = 1000 * (_cpu_s(process) - cpu_before) / requests
    return figures


@dataclass(frozen=True)
class Paced:
    """One paced wrk run: throughput, latency, errors, server CPU, each worker's loop-lag p99."""

    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: float
    errors: float
    cpu_ms: float
    lag: dict[int, QuantileEstimate]


def _paced(
    server: tuple[str, subprocess.Popen[bytes]],
    path: str,
    script: Path,
    connections: int,
    rate: float,
    seconds: int,
    workers: int,
) -> Paced:
    """`connections` open connections offering `rate` req/s in all to `path` for `seconds`."""
    base, process = server
    before = _worker_lag(base, workers)
    pace_ms = connections / rate * 1000
    figures = _wrk_cpu(process, base + path, connections, seconds, script, pace_ms)
    after = _worker_lag(base, workers)
    lag = {}
    for pid, buckets in after.items():
        with contextlib.suppress(ValueError):  # no observation from that worker in between
            lag[pid] = histogram_quantile(before.get(pid, {}), buckets, 0.99)
    return Paced(
        figures["rps"],
        figures["p50"] / 1000,
        figures["p99"] / 1000,
        figures["non2xx"],
        figures["errors"],
        figures["cpu_ms"],
        lag,
    )


def _cold_start(env: dict[str, str], numba_cache: Path) -> tuple[float, float]:
    """(wall, CPU) seconds from spawning `converge serve` (1 worker) to /ready.

    CPU is user + system of the server's processes: robust to other load on the machine.
    """
    with uvicorn({**env, "NUMBA_CACHE_DIR": str(numba_cache)}, 1) as (base, process):
        wall = wait_ready(base, process)
        return wall, _cpu_s(process)


def _kernels_compiled(numba_cache: Path, shipped: Path) -> int:
    """Kernels numba compiled and saved into `numba_cache`: code files not copied from `shipped`."""
    compiled = 0
    for path in numba_cache.rglob("*.nbc"):
        twin = shipped / path.relative_to(numba_cache)
        compiled += not twin.is_file() or twin.read_bytes() != path.read_bytes()
    return compiled


def _range_s(figures: list[float]) -> str:
    return f"{min(figures):.2f}-{max(figures):.2f} s"


def cold_starts(root: Path, env: dict[str, str]) -> None:
    """Cold start of 1 worker with an empty NUMBA_CACHE_DIR, compiling vs the shipped kernel cache.

    The two kinds of start alternate, COLD_STARTS of each, so both see the same machine and the
    same warm OS file cache.
    """
    shipped = root / "numba-kernels"
    build_cache(shipped)  # the image build's step, not measured
    compiling = {k: v for k, v in env.items() if k != KERNEL_CACHE_ENV}
    kinds = {"compiling": compiling, "shipped": {**compiling, KERNEL_CACHE_ENV: str(shipped)}}
    wall: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    compiled: dict[str, set[int]] = {kind: set() for kind in kinds}
    for attempt in range(COLD_STARTS):
        for kind, kind_env in kinds.items():
            folder = root / f"numba-{kind}-{attempt}"
            seconds, cpu_s = _cold_start(kind_env, folder)
            wall[kind].append(seconds)
            cpu[kind].append(cpu_s)
            compiled[kind].add(_kernels_compiled(folder, shipped))
    best = min(wall["shipped"])
    click.echo(
        f"cold start to /ready (1 worker, empty NUMBA_CACHE_DIR, {COLD_STARTS} starts each): "
        f"compiling the kernels {_range_s(wall['compiling'])} (CPU {_range_s(cpu['compiling'])}; "
        f"kernels compiled: {sorted(compiled['compiling'])}), with the shipped cache "
        f"{_range_s(wall['shipped'])} (CPU {_range_s(cpu['shipped'])}; kernels compiled: "
        f"{sorted(compiled['shipped'])}); shipped/compiling {best / min(wall['compiling']):.2f} "
        f"(CPU {min(cpu['shipped']) / min(cpu['compiling']):.2f}; goal < {TARGET_COLD_S} s with "
        f"the shipped cache: {_verdict(best < TARGET_COLD_S)})"
    )
    click.echo(
        "  (excludes: building the shipped cache, done at image build; pulling the image and "
        "scheduling the pod; Python bytecode is precompiled and the OS file cache warm, as on a "
        "node that ran the image before)"
    )


def _closed_loop(
    server: tuple[str, subprocess.Popen[bytes]], script: Path, seconds: int, workers: int
) -> tuple[dict[str, float], Counter[str]]:
    """`_wrk_cpu` on /v1/predict at 64 connections, and the entities served by each source."""
    base, process = server
    before = _sources(base, workers)
    figures = _wrk_cpu(process, base + "/v1/predict", 64, seconds, script)
    return figures, _sources(base, workers) - before


@contextlib.contextmanager
def _keys_deleted(prefix: str) -> Iterator[None]:
    """Deletes the Redis keys under `prefix` on exit."""
    try:
        yield
    finally:
        _delete_keys(prefix)


def _delete_keys(prefix: str) -> None:
    """Deletes the Redis keys under `prefix`, and only those."""
    url = get_settings().redis_url
    client = redis.Redis.from_url(url)
    try:
        keys = [key.decode() for key in client.scan_iter(match=prefix + "*", count=1000)]
    finally:
        client.close()
    invalidate(url, prefix, [key.removeprefix(prefix) for key in keys])


def _cache_scenarios(
    server: tuple[str, subprocess.Popen[bytes]],
    root: Path,
    env: dict[str, str],
    health_rps: float,
    warm: tuple[dict[str, float], Counter[str]],
    seconds: int,
    workers: int,
) -> None:
    """/v1/predict with a warm, a half-missing and an empty cache, each against a bare /health
    run just before it (on a shared machine the load drifts within a bench run)."""
    base, process = server
    click.echo(
        "closed loop, 64 connections, /v1/predict by what its feature lookups find, each as a "
        "ratio of a bare /health run just before it (sources: the workers' counters):"
    )
    _scenario_line(WARM, *warm, health_rps)
    mixed = root / "mixed.lua"
    mixed.write_text(MIXED.script())
    health = _wrk_cpu(process, base + "/health", 64, seconds, None)
    _scenario_line(MIXED, *_closed_loop(server, mixed, seconds, workers), health["rps"])
    # New entities for the whole run at 1.5 x the warm rate (a miss is not faster than a hit).
    count = math.ceil(warm[0]["rps"] * seconds * 1.5) + ENTITIES
    add_entities(env["DATABASE_URL"], ENTITIES, count)
    fresh = root / "fresh.lua"
    fresh.write_text(EMPTY.script(FIRST=ENTITIES))
    _delete_keys(env["CONVERGE_SERVING_CACHE_KEY_PREFIX"])
    health = _wrk_cpu(process, base + "/health", 64, seconds, None)
    _scenario_line(EMPTY, *_closed_loop(server, fresh, seconds, workers), health["rps"])


def _scenario_line(
    scenario: Scenario, figures: dict[str, float], sources: Counter[str], health_rps: float
) -> None:
    counts = {name: count for name, count in sources.items() if "fallback" not in name}
    total = sum(counts.values()) or 1
    shares = ", ".join(f"{name} {100 * counts[name] / total:.0f}%" for name in sorted(counts))
    # A dependency slower than its timeout counts as failed; enough failures open its breaker.
    fallbacks = "".join(
        f"; {name}s: {sources[name]}" for name in sorted(sources) if "fallback" in name
    )
    click.echo(
        f"  {scenario.label} ({scenario.meaning}): {figures['rps']:.0f} req/s, p50 "
        f"{figures['p50'] / 1000:.1f} ms, p99 {figures['p99'] / 1000:.1f} ms, server CPU "
        f"{figures['cpu_ms']:.3f} ms/request, non-2xx {figures['non2xx']:.0f}; ratio "
        f"{figures['rps'] / health_rps:.2f} (/health {health_rps:.0f} req/s); "
        f"sources: {shares}{fallbacks}"
    )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise click.ClickException(f"no VmRSS for pid {pid}")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


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


@click.command()
@click.option(
    "--mojo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MOJO to serve (default: train a 50-tree GBM on a local H2O).",
)
@click.option("--seconds", default=10, show_default=True, help="Length of each closed-loop run.")
@click.option(
    "--paced-seconds",
    default=20,
    show_default=True,
    help="Length of each paced run (longer dilutes the burst every wrk run opens with).",
)
@click.option("--connections", default=1000, show_default=True)
@click.option("--workers", default=2, show_default=True)
def command(
    mojo: Path | None, seconds: int, paced_seconds: int, connections: int, workers: int
) -> None:
    """Serve a champion with uvicorn workers and measure it with wrk."""
    with served_champion(mojo) as (root, env):
        script = root / "predict.lua"
        script.write_text(WARM.script())
        pacing = root / "pacing.lua"
        pacing.write_text(WRK_PACING)

        click.echo(f"cores: {os.cpu_count()}; workers: {workers}; wrk: 2 threads")
        cold_starts(root, env)

        # This run's own cache keys: emptying them leaves other users of the Redis alone.
        prefix = f"converge:bench:{root.name}:"
        env = {**env, "CONVERGE_SERVING_CACHE_KEY_PREFIX": prefix}
        with _keys_deleted(prefix), uvicorn(env, workers) as server:
            base, process = server
            wait_ready(base, process)
            run_wrk(base + "/v1/predict", 64, 3, script)  # warm-up: fills the Redis cache
            ping = _wrk_cpu(process, base + "/health", 64, seconds, None)
            predict, warm_sources = _closed_loop(server, script, seconds, workers)
            ratio = predict["rps"] / ping["rps"]
            click.echo(
                f"closed loop, 64 connections: bare /health {ping['rps']:.0f} req/s, "
                f"/v1/predict {predict['rps']:.0f} req/s (p99 {predict['p99'] / 1000:.1f} ms)"
                f"; ratio {ratio:.2f} (goal >= {TARGET_RATIO}: {_verdict(ratio >= TARGET_RATIO)})"
            )
            click.echo(
                f"server CPU per request (all workers, user + system): /health "
                f"{ping['cpu_ms']:.3f} ms, /v1/predict {predict['cpu_ms']:.3f} ms "
                f"(CPU ratio {ping['cpu_ms'] / predict['cpu_ms']:.2f})"
            )

            rate = predict["rps"] / 2
            # Each connection waits connections / rate s on average before each request: run
            # long enough for every connection to send several.
            paced_seconds = max(paced_seconds, math.ceil(4 * connections / rate))
            # Same-run baseline: the bare route at the same pacing shows the lag and latency the
            # machine itself imposes (wrk and the app share the same cores).
            bare = _paced(server, "/health", pacing, connections, rate, paced_seconds, workers)
            paced = _paced(server, "/v1/predict", script, connections, rate, paced_seconds, workers)
            click.echo(
                f"{connections} open connections for {paced_seconds} s, offered {rate:.0f} req/s "
                f"(achieved {paced.rps:.0f}, non-2xx {paced.non2xx:.0f}, socket errors "
                f"{paced.errors:.0f}): p50 {paced.p50_ms:.1f} ms, p99 {paced.p99_ms:.1f} ms "
                f"(goal < {TARGET_P99_MS:.0f} ms: {_verdict(paced.p99_ms < TARGET_P99_MS)}); "
                f"bare /health at the same pacing: p99 {bare.p99_ms:.1f} ms"
            )
            click.echo(
                f"server CPU per request at that pacing: /health {bare.cpu_ms:.3f} ms, "
                f"/v1/predict {paced.cpu_ms:.3f} ms"
            )
            bare_lag = max((lag.value for lag in bare.lag.values()), default=0.0) * 1000
            if len(paced.lag) < workers:
                click.echo(f"only {len(paced.lag)} of {workers} workers answered the lag scrapes")
            for pid, lag in sorted(paced.lag.items()):
                lag_ms, rss_mb = lag.value * 1000, _rss_mb(pid)
                click.echo(
                    f"worker {pid}: loop lag p99 {lag_ms:.1f} ms (histogram_quantile; bucket <= "
                    f"{lag.bucket_upper * 1000:g} ms; goal < {TARGET_LAG_P99_MS:g} ms: "
                    f"{_verdict(lag_ms < TARGET_LAG_P99_MS)}; bare /health at the same pacing: "
                    f"{bare_lag:.1f} ms); RSS {rss_mb:.0f} MB (goal < {TARGET_RSS_MB:.0f} MB: "
                    f"{_verdict(rss_mb < TARGET_RSS_MB)})"
                )
            _cache_scenarios(
                server, root, env, ping["rps"], (predict, warm_sources), seconds, workers
            )

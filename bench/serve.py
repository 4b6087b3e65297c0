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

import math
import os
from pathlib import Path

import click

from bench.serve_cache import WARM, cache_scenarios, closed_loop, keys_deleted
from bench.serve_cold_start import cold_starts
from bench.serve_figures import paced_run, verdict, worker_rss_mb, wrk_cpu
from bench.serving_setup import WRK_PACING, run_wrk, served_champion, uvicorn, wait_ready

TARGET_RATIO = 0.6
TARGET_P99_MS = 100.0
TARGET_LAG_P99_MS = 10.0
TARGET_RSS_MB = 500.0


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
        with keys_deleted(prefix), uvicorn(env, workers) as server:
            base, process = server
            wait_ready(base, process)
            run_wrk(base + "/v1/predict", 64, 3, script)  # warm-up: fills the Redis cache
            ping = wrk_cpu(process, base + "/health", 64, seconds, None)
            predict, warm_sources = closed_loop(server, script, seconds, workers)
            ratio = predict["rps"] / ping["rps"]
            click.echo(
                f"closed loop, 64 connections: bare /health {ping['rps']:.0f} req/s, "
                f"/v1/predict {predict['rps']:.0f} req/s (p99 {predict['p99'] / 1000:.1f} ms)"
                f"; ratio {ratio:.2f} (goal >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)})"
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
            bare = paced_run(server, "/health", pacing, connections, rate, paced_seconds, workers)
            paced = paced_run(
                server, "/v1/predict", script, connections, rate, paced_seconds, workers
            )
            click.echo(
                f"{connections} open connections for {paced_seconds} s, offered {rate:.0f} req/s "
                f"(achieved {paced.rps:.0f}, non-2xx {paced.non2xx:.0f}, socket errors "
                f"{paced.errors:.0f}): p50 {paced.p50_ms:.1f} ms, p99 {paced.p99_ms:.1f} ms "
                f"(goal < {TARGET_P99_MS:.0f} ms: {verdict(paced.p99_ms < TARGET_P99_MS)}); "
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
                lag_ms, rss_mb = lag.value * 1000, worker_rss_mb(pid)
                click.echo(
                    f"worker {pid}: loop lag p99 {lag_ms:.1f} ms (histogram_quantile; bucket <= "
                    f"{lag.bucket_upper * 1000:g} ms; goal < {TARGET_LAG_P99_MS:g} ms: "
                    f"{verdict(lag_ms < TARGET_LAG_P99_MS)}; bare /health at the same pacing: "
                    f"{bare_lag:.1f} ms); RSS {rss_mb:.0f} MB (goal < {TARGET_RSS_MB:.0f} MB: "
                    f"{verdict(rss_mb < TARGET_RSS_MB)})"
                )
            cache_scenarios(
                server, root, env, ping["rps"], (predict, warm_sources), seconds, workers
            )

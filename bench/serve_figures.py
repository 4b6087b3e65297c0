"""What the serving bench reads off a running server: each worker's /metrics and loop lag, the
server's CPU per request, paced wrk runs, RSS per worker, and the goal verdicts.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
import psutil

from bench.serving_setup import run_wrk
from serving.prometheus_text import (
    QuantileEstimate,
    histogram_buckets,
    histogram_quantile,
    sample_value,
)

LAG = "converge_event_loop_lag_seconds"


def worker_metrics(base: str, workers: int, scrapes: int = 200) -> dict[int, str]:
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
        pid: histogram_buckets(text, LAG) for pid, text in worker_metrics(base, workers).items()
    }


def server_cpu_s(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes."""
    root = psutil.Process(process.pid)
    total = 0.0
    for member in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def wrk_cpu(
    process: subprocess.Popen[bytes],
    url: str,
    connections: int,
    seconds: int,
    script: Path | None,
    pace_ms: float = 0,
) -> dict[str, float]:
    """`run_wrk` plus the server's CPU milliseconds per request (robust to other load)."""
    cpu_before, started = server_cpu_s(process), time.perf_counter()
    figures = run_wrk(url, connections, seconds, script, pace_ms)
    requests = figures["rps"] * (time.perf_counter() - started)
    figures["cpu_ms"] = 1000 * (server_cpu_s(process) - cpu_before) / requests
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


def paced_run(
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
    figures = wrk_cpu(process, base + path, connections, seconds, script, pace_ms)
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


def worker_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise click.ClickException(f"no VmRSS for pid {pid}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"

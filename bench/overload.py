"""`converge bench overload`: 2000 connections on 2 workers, and what Kubernetes' probes see.

wrk holds most of the connections in a closed loop on /v1/predict (far past saturation, so most
requests are refused with 503); the bench itself holds a few more, timing each of its requests by
status (wrk reports one latency distribution for all statuses). Meanwhile a poller asks the probe
port's /live and /ready every 250 ms with a 1 s timeout, as a kubelet would, and the main port's
/health and /ready the same way as the same-run baseline. Prints requests/s, the share of 503,
p50/p99 of 2xx and of 503, timeouts, and per probe p50/p99/max latency and failures.

Then the same load on a bare app under the same uvicorn workers and event loop that answers every
POST with the same 503 at once (bench.bare_refusal): the fastest refusals this machine's Python
workers give at that load, printed beside the serving app's with the ratio of the 503 p99s.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click

from bench.serve_figures import verdict
from bench.serving_setup import (
    ENTITIES,
    served_champion,
    uvicorn,
    wait_ready,
)
from serving.config import ServingSettings
from serving.launch import app_process
from shared.net import free_port

PROBE_PERIOD_S = 0.25
PROBE_TIMEOUT_S = 1.0
REQUEST_TIMEOUT_S = 10.0
TARGET_REFUSAL_P99_MS = 100.0
REPO = Path(__file__).resolve().parent.parent

# wrk Lua: POST one of ENTITIES entity_ids per request, count answers by status.
WRK_OVERLOAD = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
statuses = {}
setup = function(thread) table.insert(threads, thread) end
request = function()
  return wrk.format(nil, nil, nil,
    string.format('{"entity_id": "bench-%d"}', math.random(0, __ENTITIES__ - 1)))
end
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
done = function(summary, latency, requests)
  local total, refused = 0, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total = total + n
      if status == 503 then refused = refused + n end
    end
  end
  io.write(string.format('\\nOVERLOAD answered=%d refused=%d timeouts=%d errors=%d ' ..
    'p50=%d p99=%d max=%d\\n', total, refused, summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values` by the nearest-rank method; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Timings:
    """Latencies (seconds) of answered requests and the count of failed ones."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """p50/p99/max in ms, and the failures."""
        ms = [s * 1000 for s in self.latencies]
        figures = f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms"
        return f"{figures}, max {max(ms, default=float('nan')):.1f} ms (n={len(ms)})"


class ProbePoller:
    """Polls each URL every PROBE_PERIOD_S with a new connection and a PROBE_TIMEOUT_S budget.

    A probe fails when it times out, cannot connect, or answers other than 200.
    """

    def __init__(self, urls: dict[str, tuple[str, int, str]]) -> None:
        self.timings = {name: Timings() for name in urls}
        self._urls = urls
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll, args=(name,), daemon=True) for name in urls
        ]

    def _poll(self, name: str) -> None:
        host, port, path = self._urls[name]
        timings = self.timings[name]
        while not self._stop.is_set():
            started = time.perf_counter()
            conn = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT_S)
            try:
                conn.request("GET", path)
                status = conn.getresponse().status
                elapsed = time.perf_counter() - started
                if status == 200:
                    timings.latencies.append(elapsed)
                else:
                    timings.failures.append(f"{status} after {elapsed:.2f} s")
            except (OSError, http.client.HTTPException) as exc:
                elapsed = time.perf_counter() - started
                timings.failures.append(f"{type(exc).__name__} after {elapsed:.2f} s")
            finally:
                conn.close()
            self._stop.wait(max(0.0, PROBE_PERIOD_S - (time.perf_counter() - started)))

    def __enter__(self) -> ProbePoller:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


class TimedClients:
    """`connections` keep-alive clients in a closed loop on POST `path`, each request timed.

    Raw asyncio streams in a thread of their own: a full HTTP client would add its own CPU to
    every figure. Latencies are kept by status; a request unanswered after REQUEST_TIMEOUT_S
    counts as a timeout and its connection is reopened.
    """

    def __init__(self, host: str, port: int, path: str, connections: int) -> None:
        self.by_status: dict[int, list[float]] = {}
        self.timeouts = 0
        self.errors = 0
        self.connections = connections
        self._host, self._port = host, port
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def _request(self, i: int) -> bytes:
        body = f'{{"entity_id": "bench-{i % ENTITIES}"}}'.encode()
        head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, i: int) -> int:
        writer.write(self._request(i))
        status_line = await reader.readuntil(b"\r\n")
        length = 0
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(status_line.split()[1])

    async def _client(self, n: int) -> None:
        i = n
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self._host, self._port), REQUEST_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                self.errors += 1
                continue
            try:
                while not self._stop.is_set():
                    started = time.perf_counter()
                    status = await asyncio.wait_for(self._one(reader, writer, i), REQUEST_TIMEOUT_S)
                    self.by_status.setdefault(status, []).append(time.perf_counter() - started)
                    i += self.connections
            except TimeoutError:
                self.timeouts += 1
            except (OSError, asyncio.IncompleteReadError):
                self.errors += 1
            finally:
                writer.close()

    async def _run(self) -> None:
        clients = [asyncio.create_task(self._client(n)) for n in range(self.connections)]
        await asyncio.to_thread(self._stop.wait)
        await asyncio.wait(clients, timeout=REQUEST_TIMEOUT_S + 1)

    def __enter__(self) -> TimedClients:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class WrkOverload:
    """What wrk saw: requests/s, answers, 503s among them, timeouts, socket errors, latency."""

    rps: float
    answered: int
    refused: int
    timeouts: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def run_wrk(url: str, connections: int, seconds: int, script: Path) -> WrkOverload:
    """wrk with 2 threads, `connections` connections, `script`, REQUEST_TIMEOUT_S timeout."""
    timeout = f"{REQUEST_TIMEOUT_S:g}s"
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", timeout]
    done = subprocess.run(
        [*args, "-s", str(script), url], capture_output=True, text=True, check=True
    )
    rps = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    figures = re.search(
        r"OVERLOAD answered=(\d+) refused=(\d+) timeouts=(\d+) errors=(\d+) "
        r"p50=(\d+) p99=(\d+) max=(\d+)",
        done.stdout,
    )
    if rps is None or figures is None:
        raise click.ClickException(f"cannot read wrk's output:\n{done.stdout}{done.stderr}")
    answered, refused, timeouts, errors, p50, p99, most = (int(x) for x in figures.groups())
    return WrkOverload(
        float(rps[1]), answered, refused, timeouts, errors, p50 / 1000, p99 / 1000, most / 1000
    )


@dataclass(frozen=True)
class Overload:
    """One overload run: wrk's figures, the timed clients' latencies, the probes' timings."""

    wrk: WrkOverload
    timed: TimedClients
    probes: dict[str, Timings]


def overload(
    base: str, probe_port: int | None, connections: int, timed: int, seconds: int, script: Path
) -> Overload:
    """`connections` in all (`timed` of them the bench's) on /v1/predict; probes polled (the
    probe port's too unless None)."""
    host, port = base.removeprefix("http://").split(":")
    urls = {
        "main port /health": (host, int(port), "/health"),
        "main port /ready": (host, int(port), "/ready"),
    }
    if probe_port is not None:
        urls["probe port /live"] = ("127.0.0.1", probe_port, "/live")
        urls["probe port /ready"] = ("127.0.0.1", probe_port, "/ready")
    with (
        ProbePoller(urls) as poller,
        TimedClients(host, int(port), "/v1/predict", timed) as clients,
    ):
        figures = run_wrk(base + "/v1/predict", connections - timed, seconds, script)
    return Overload(figures, clients, poller.timings)


def refusal_ms(run: Overload) -> list[float]:
    """Latencies (ms) of the 503s the bench's timed connections got."""
    return [s * 1000 for s in run.timed.by_status.get(503, [])]


def report(run: Overload, connections: int, seconds: int, workers: int, loop: str) -> list[str]:
    """The printed lines: throughput, 503 share, latency by status, timeouts, probes."""
    wrk, timed = run.wrk, run.timed
    ok = [s * 1000 for status, ms in timed.by_status.items() if 200 <= status < 300 for s in ms]
    refused = refusal_ms(run)
    others = {s: len(v) for s, v in timed.by_status.items() if s != 503 and not 200 <= s < 300}
    refusal_p99 = percentile(refused, 0.99)
    timeouts = wrk.timeouts + timed.timeouts
    lines = [
        f"cores: {os.cpu_count()}; workers: {workers}, event loop {loop}; {connections} "
        f"connections for {seconds} s (wrk {connections - timed.connections}, timed by the bench "
        f"{timed.connections})",
        f"wrk: {wrk.rps:.0f} req/s, 503 share {wrk.refused / max(wrk.answered, 1):.1%} of "
        f"{wrk.answered} answers, timeouts (> {REQUEST_TIMEOUT_S:g} s) {wrk.timeouts}, socket "
        f"errors {wrk.errors}; latency of all answers p50 {wrk.p50_ms:.1f} ms, p99 "
        f"{wrk.p99_ms:.1f} ms, max {wrk.max_ms:.1f} ms",
        f"timed connections: 2xx p50 {percentile(ok, 0.5):.1f} ms, p99 {percentile(ok, 0.99):.1f}"
        f" ms (n={len(ok)}); 503 p50 {percentile(refused, 0.5):.1f} ms, p99 {refusal_p99:.1f} ms "
        f"(n={len(refused)}; goal < {TARGET_REFUSAL_P99_MS:g} ms: "
        f"{verdict(refusal_p99 < TARGET_REFUSAL_P99_MS)}); other statuses {others or 'none'}; "
        f"timeouts {timed.timeouts}, socket errors {timed.errors}",
        f"timeouts in all: {timeouts} (goal 0: {verdict(timeouts == 0)})",
    ]
    for name, timings in run.probes.items():
        within = not timings.failures and max(timings.latencies, default=0) < PROBE_TIMEOUT_S
        lines.append(
            f"{name} every {PROBE_PERIOD_S * 1000:g} ms, {PROBE_TIMEOUT_S:g} s timeout: "
            f"{timings.summary()}, failures {len(timings.failures)}"
            + (f" ({', '.join(timings.failures[:3])})" if timings.failures else "")
            + ("" if name.startswith("main") else f" (goal: none, < 1 s: {verdict(within)})")
        )
    return lines


def ceiling_report(run: Overload, ceiling: Overload) -> str:
    """The bare app's figures under the same load, and the serving app's 503 p99 over its."""
    bare, refused = refusal_ms(ceiling), refusal_ms(run)
    ratio = (
        f"{percentile(refused, 0.99) / percentile(bare, 0.99):.2f}x"
        if refused and bare
        else "n/a (no 503 to compare)"
    )
    return (
        f"ceiling, a bare app answering every POST with the same 503 at once (same workers, loop "
        f"and load): wrk {ceiling.wrk.rps:.0f} req/s, timeouts "
        f"{ceiling.wrk.timeouts + ceiling.timed.timeouts}, latency of all answers p99 "
        f"{ceiling.wrk.p99_ms:.1f} ms, max {ceiling.wrk.max_ms:.1f} ms; timed 503 p50 "
        f"{percentile(bare, 0.5):.1f} ms, p99 {percentile(bare, 0.99):.1f} ms; serving app's 503 "
        f"p99 / the ceiling's: {ratio}"
    )


@click.command()
@click.option(
    "--mojo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MOJO to serve (default: train a 50-tree GBM on a local H2O).",
)
@click.option("--seconds", default=20, show_default=True, help="Length of the overload.")
@click.option("--connections", default=2000, show_default=True)
@click.option("--timed", default=50, show_default=True, help="Connections the bench times.")
@click.option("--workers", default=2, show_default=True)
def command(mojo: Path | None, seconds: int, connections: int, timed: int, workers: int) -> None:
    """Overload the serving app with wrk and report refusals, timeouts and probe latency."""
    if not 0 < timed < connections:
        raise click.ClickException("--timed must be between 1 and --connections - 1")
    with served_champion(mojo) as (root, served):
        script = root / "overload.lua"
        script.write_text(WRK_OVERLOAD.replace("__ENTITIES__", str(ENTITIES)))
        probe_port = free_port()
        env = {**served, "CONVERGE_SERVING_PROBE_PORT": str(probe_port)}
        with uvicorn(env, workers) as (base, process):
            wait_ready(base, process)
            run_wrk(base + "/v1/predict", 64, 2, script)  # warm-up: fills the Redis cache
            run = overload(base, probe_port, connections, timed, seconds, script)
        loop = ServingSettings().event_loop
        with bare_app(workers, loop) as base:
            ceiling = overload(base, None, connections, timed, seconds, script)
        for line in report(run, connections, seconds, workers, loop):
            click.echo(line)
        click.echo(ceiling_report(run, ceiling))


@contextmanager
def bare_app(workers: int, loop: str) -> Iterator[str]:
    """bench.bare_refusal under uvicorn (`workers`, `loop`, httptools) on a free port: its URL."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.bare_refusal:app", "--port", str(port)]
    argv += ["--workers", str(workers), "--loop", loop, "--http", "httptools"]
    argv += ["--lifespan", "off", "--log-level", "warning"]
    with app_process(argv, dict(os.environ), cwd=REPO) as process:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"

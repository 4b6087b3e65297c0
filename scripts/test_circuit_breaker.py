"""Fault drill against a running serving app: take a dependency away, check the fallback, recover.

    python scripts/test_circuit_breaker.py --service http://127.0.0.1:8000 --dependency redis \
        --stop-command "redis-cli -p 6379 shutdown nosave" \
        --start-command "redis-server --port 6379 --daemonize yes" --reset-timeout-s 60

While a steady stream of /v1/predict requests runs, the dependency is stopped with
--stop-command (any shell command: systemctl, docker, kubectl scale...). Every request must get a
2xx, none may take longer than --max-fallback-s while the dependency is down, the fallback must
really serve (redis down: features from the database; postgres down: the default vector,
degraded=true) and the breaker must show open in /metrics. Then the stream stops and the
half-open probe is driven with single requests: after the reset timeout (--reset-timeout-s, the
service's CONVERGE_SERVING_BREAKER_RESET_TIMEOUT_S) a probe while the dependency is still down
must be served by the fallback and leave the breaker open; the dependency is restarted with
--start-command; a call before the timeout has elapsed again must not reach it; after the
timeout one probe must close the breaker (read from /metrics), and the primary source serves again.
Run it against one worker (each uvicorn worker has its own breakers and metrics).
Exit 0: passed; 1: a check failed; 2: the drill could not run (a command failed).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import httpx

from serving.prometheus_text import sample_value

# Past the reset timeout by this much, a call is surely the half-open probe.
PROBE_MARGIN_S = 0.5


@dataclass
class Outcome:
    """One request of the stream."""

    started: float
    finished: float
    status: int
    source: str | None
    degraded: bool | None


def breaker_state(metrics_text: str, dependency: str) -> str | None:
    """The state of `dependency`'s breaker according to converge_breaker_state."""
    for state in ("closed", "open", "half_open"):
        value = sample_value(
            metrics_text, "converge_breaker_state", dependency=dependency, state=state
        )
        if value == 1:
            return state
    return None


class Drill:
    """A request stream and a log of its outcomes and of the breaker states seen."""

    def __init__(self, client: httpx.AsyncClient, dependency: str, entity_id: str) -> None:
        self.client = client
        self.dependency = dependency
        self.entity_id = entity_id
        self.outcomes: list[Outcome] = []
        self.states_seen: set[str] = set()
        self.running = True

    def _body(self, entity_id: str | None) -> dict[str, str]:
        if entity_id is not None:
            return {"entity_id": entity_id}
        if self.dependency == "postgres":
            # A fresh entity per request: never cached, so every request needs the database.
            return {"entity_id": f"drill-{uuid.uuid4().hex}"}
        return {"entity_id": self.entity_id}

    async def one(self, entity_id: str | None = None) -> None:
        started = time.monotonic()
        try:
            response = await self.client.post("/v1/predict", json=self._body(entity_id))
            status = response.status_code
            body = response.json() if status == 200 else {}
        except httpx.HTTPError:
            status, body = 0, {}
        predictions = body.get("predictions") or [{}]
        self.outcomes.append(
            Outcome(
                started,
                time.monotonic(),
                status,
                predictions[0].get("source"),
                body.get("degraded"),
            )
        )

    async def stream(self, rate: float) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while self.running:
            task = asyncio.create_task(self.one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)

    async def probe(self, entity_id: str | None = None) -> Outcome:
        """One request on its own (for `entity_id` if given); its outcome."""
        await self.one(entity_id)
        return self.outcomes[-1]

    async def watch_breaker(self) -> str | None:
        state = breaker_state((await self.client.get("/metrics")).text, self.dependency)
        if state:
            self.states_seen.add(state)
        return state


def _shell(command: str) -> None:
    result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {command}\n{result.stderr}")


@dataclass
class Recovery:
    """What the half-open phase saw: the failed probe, the early call, the closing probe."""

    failed_probe: Outcome | None = None
    state_after_failed_probe: str | None = None
    early: Outcome | None = None
    state_after_early: str | None = None
    closing_probe: Outcome | None = None
    recovered_at: float | None = None


async def half_open_phase(drill: Drill, args: argparse.Namespace) -> Recovery:
    """With no traffic: a probe while the dependency is down, then restore it and probe again."""
    seen = Recovery()
    # A call after the reset timeout is the half-open probe; the dependency is still down, so
    # it fails and the breaker opens again for another reset timeout.
    await asyncio.sleep(args.reset_timeout_s + PROBE_MARGIN_S)
    seen.failed_probe = await drill.probe()
    seen.state_after_failed_probe = await drill.watch_breaker()
    probed_at = time.monotonic()
    await asyncio.to_thread(_shell, args.start_command)
    started_at = time.monotonic()
    print(f"{args.dependency} started; the breaker must stay open until its reset timeout")
    if started_at - probed_at < args.reset_timeout_s - PROBE_MARGIN_S:
        seen.early = await drill.probe()
        seen.state_after_early = await drill.watch_breaker()
    deadline = started_at + args.recovery_timeout_s
    next_probe = probed_at + args.reset_timeout_s + PROBE_MARGIN_S
    while next_probe < deadline:
        await asyncio.sleep(max(0.0, next_probe - time.monotonic()))
        # --entity-id is in the database and, in a postgres drill, not cached: the probe reads it.
        seen.closing_probe = await drill.probe(args.entity_id)
        if await drill.watch_breaker() == "closed":
            seen.recovered_at = time.monotonic()
            print(f"closed by a half-open probe {seen.recovered_at - started_at:.1f} s after start")
            break
        # The dependency was not answering yet: the probe failed and reopened the breaker.
        next_probe = time.monotonic() + args.reset_timeout_s + PROBE_MARGIN_S
    return seen


def check_recovery(seen: Recovery, args: argparse.Namespace) -> list[str]:
    """The half-open phase's failures (empty: the probe behaved)."""
    failures: list[str] = []
    fallback = "db" if args.dependency == "redis" else "default"
    probe = seen.failed_probe
    if probe is None or not 200 <= probe.status < 300 or probe.source != fallback:
        failures.append(
            f"the probe while {args.dependency} was down was not served by the fallback"
        )
    if seen.state_after_failed_probe != "open":
        failures.append(
            f"after a failed half-open probe the breaker was {seen.state_after_failed_probe}, "
            "not open again"
        )
    if seen.early is not None and (
        seen.state_after_early != "open" or seen.early.source != fallback
    ):
        failures.append(
            f"the breaker let a call reach {args.dependency} before its reset timeout "
            f"(state {seen.state_after_early}, source {seen.early.source})"
        )
    if seen.recovered_at is None:
        failures.append(
            f"no half-open probe closed the {args.dependency} breaker after the restart"
        )
    elif seen.closing_probe is None or not 200 <= seen.closing_probe.status < 300:
        failures.append("the probe that closed the breaker was not answered 2xx")
    elif args.dependency == "postgres" and seen.closing_probe.source != "db":
        failures.append(
            f"the probe that closed the postgres breaker read {seen.closing_probe.source}, not db"
        )
    return failures


async def run(args: argparse.Namespace) -> list[str]:
    """Run the drill; returns the failed checks (empty: passed)."""
    failures: list[str] = []
    primary = "cache" if args.dependency == "redis" else None
    async with httpx.AsyncClient(base_url=args.url, timeout=10) as client:
        ready = await client.get("/ready")
        if ready.status_code != 200:
            return [f"{args.service} is not ready: {ready.status_code} {ready.text[:200]}"]
        drill = Drill(client, args.dependency, args.entity_id)
        if await drill.watch_breaker() != "closed":
            return [f"the {args.dependency} breaker is not closed before the drill"]
        streaming = asyncio.create_task(drill.stream(args.rate))
        await asyncio.sleep(args.warmup_s)
        stopped_at = time.monotonic()
        await asyncio.to_thread(_shell, args.stop_command)
        print(f"{args.dependency} stopped; streaming for {args.outage_s} s")
        deadline = stopped_at + args.outage_s
        while time.monotonic() < deadline:
            await drill.watch_breaker()
            await asyncio.sleep(0.2)
        drill.running = False  # no traffic from here: the next call after the timeout is the probe
        await streaming
        outage_end = time.monotonic()
        seen = await half_open_phase(drill, args)
        if seen.recovered_at is not None:
            drill.running = True
            streaming = asyncio.create_task(drill.stream(args.rate))
            await asyncio.sleep(args.warmup_s)  # a little traffic after recovery
            drill.running = False
            await streaming

    outcomes = drill.outcomes
    bad = [o for o in outcomes if not 200 <= o.status < 300]
    during = [o for o in outcomes if stopped_at <= o.started < outage_end]
    slowest = max((o.finished - o.started for o in during), default=0.0)
    if args.dependency == "redis":
        fallback = [o for o in during if o.source == "db"]
    else:
        fallback = [o for o in during if o.degraded and o.source == "default"]
    first_fallback = min((o.finished for o in fallback), default=None)
    recovered_at = seen.recovered_at
    print(
        f"{len(outcomes)} requests, {len(bad)} non-2xx; {len(during)} during the outage, "
        f"slowest {slowest * 1000:.0f} ms; first fallback answer "
        + (
            f"{(first_fallback - stopped_at) * 1000:.0f} ms after the stop"
            if first_fallback
            else "never"
        )
        + f"; breaker states seen: {sorted(drill.states_seen)}; failed probe left it "
        + f"{seen.state_after_failed_probe}; recovered "
        + ("by a half-open probe" if recovered_at else "never")
    )
    if bad:
        failures.append(
            f"{len(bad)} requests were not 2xx (statuses {sorted({o.status for o in bad})})"
        )
    if not fallback:
        failures.append("no request was served through the fallback during the outage")
    elif first_fallback is not None and first_fallback - stopped_at > args.max_fallback_s:
        failures.append(f"fallback took {first_fallback - stopped_at:.2f} s")
    if slowest > args.max_fallback_s:
        failures.append(f"a request took {slowest:.2f} s during the outage")
    if "open" not in drill.states_seen:
        failures.append(f"the {args.dependency} breaker never showed open in /metrics")
    failures += check_recovery(seen, args)
    if recovered_at is not None and primary is not None:
        after = [o for o in outcomes if o.started > recovered_at]
        if not any(o.source == primary for o in after):
            failures.append(f"after recovery no request was served from the {primary}")
    return failures


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the drill, print the verdict; 0 = passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--service",
        default="inference-api",
        help="the app's base URL, or a name shown in the report (then --url gives the URL)",
    )
    parser.add_argument("--url", default=None, help="base URL of the app (default: --service)")
    parser.add_argument("--dependency", choices=["redis", "postgres"], required=True)
    parser.add_argument("--stop-command", required=True, help="shell command that stops it")
    parser.add_argument("--start-command", required=True, help="shell command that starts it")
    parser.add_argument(
        "--entity-id", default="drill-entity", help="an entity in the database (the probes read it)"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--outage-s", type=float, default=3.0)
    parser.add_argument("--max-fallback-s", type=float, default=1.0)
    parser.add_argument(
        "--reset-timeout-s",
        type=float,
        default=60.0,
        help="the service's breaker reset timeout (CONVERGE_SERVING_BREAKER_RESET_TIMEOUT_S)",
    )
    parser.add_argument(
        "--recovery-timeout-s",
        type=float,
        default=150.0,
        help="longest wait, after the restart, for a half-open probe to close the breaker",
    )
    args = parser.parse_args(argv)
    if args.url is None:
        given = args.service.startswith(("http://", "https://"))
        args.url = args.service if given else "http://127.0.0.1:8000"
    try:
        failures = asyncio.run(run(args))
    except RuntimeError as exc:
        print(f"drill aborted: {exc}", file=sys.stderr)
        return 2
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not failures:
        print(f"PASS: {args.service} survived losing {args.dependency}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

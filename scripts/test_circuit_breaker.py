"""Fault drill against a running serving app: take a dependency away, check the fallback, recover.

    python scripts/test_circuit_breaker.py --service inference-api --dependency redis \
        --stop-command "redis-cli -p 6379 shutdown nosave" \
        --start-command "redis-server --port 6379 --daemonize yes"

While a steady stream of /v1/predict requests runs, the dependency is stopped with
--stop-command and restarted with --start-command (any shell command: systemctl, docker,
kubectl scale...). It passes when every request got a 2xx, no request took longer than
--max-fallback-s while the dependency was down, the fallback really served (redis down: features
from the database; postgres down: the default vector, degraded=true), the breaker showed open in
/metrics, and after the restart it closed again and the primary source served again.
Run it against one worker (each uvicorn worker has its own breakers and metrics).
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

    def _body(self) -> dict[str, str]:
        if self.dependency == "postgres":
            # A fresh entity per request: never cached, so every request needs the database.
            return {"entity_id": f"drill-{uuid.uuid4().hex}"}
        return {"entity_id": self.entity_id}

    async def one(self) -> None:
        started = time.monotonic()
        try:
            response = await self.client.post("/v1/predict", json=self._body())
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

    async def watch_breaker(self) -> str | None:
        state = breaker_state((await self.client.get("/metrics")).text, self.dependency)
        if state:
            self.states_seen.add(state)
        return state


def _shell(command: str) -> None:
    result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {command}\n{result.stderr}")


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
        await asyncio.to_thread(_shell, args.start_command)
        started_at = time.monotonic()
        print(f"{args.dependency} started; waiting for the breaker to close")
        recovered_at = None
        while time.monotonic() < started_at + args.recovery_timeout_s:
            if await drill.watch_breaker() == "closed" and "open" in drill.states_seen:
                recovered_at = time.monotonic()
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(args.warmup_s)  # a little traffic after recovery
        drill.running = False
        await streaming

    outcomes = drill.outcomes
    bad = [o for o in outcomes if not 200 <= o.status < 300]
    during = [o for o in outcomes if stopped_at <= o.started < started_at]
    slowest = max((o.finished - o.started for o in during), default=0.0)
    if args.dependency == "redis":
        fallback = [o for o in during if o.source == "db"]
    else:
        fallback = [o for o in during if o.degraded and o.source == "default"]
    first_fallback = min((o.finished for o in fallback), default=None)
    print(
        f"{len(outcomes)} requests, {len(bad)} non-2xx; {len(during)} during the outage, "
        f"slowest {slowest * 1000:.0f} ms; first fallback answer "
        + (
            f"{(first_fallback - stopped_at) * 1000:.0f} ms after the stop"
            if first_fallback
            else "never"
        )
        + f"; breaker states seen: {sorted(drill.states_seen)}; recovered "
        + (f"{recovered_at - started_at:.1f} s after the restart" if recovered_at else "never")
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
    if recovered_at is None:
        failures.append(f"the {args.dependency} breaker did not close after the restart")
    elif primary is not None:
        after = [o for o in outcomes if o.started > recovered_at]
        if not any(o.source == primary for o in after):
            failures.append(f"after recovery no request was served from the {primary}")
    return failures


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the drill, print the verdict; 0 = passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="inference-api", help="name shown in the report")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the app")
    parser.add_argument("--dependency", choices=["redis", "postgres"], required=True)
    parser.add_argument("--stop-command", required=True, help="shell command that stops it")
    parser.add_argument("--start-command", required=True, help="shell command that starts it")
    parser.add_argument("--entity-id", default="drill-entity", help="an entity in the database")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--outage-s", type=float, default=3.0)
    parser.add_argument("--max-fallback-s", type=float, default=1.0)
    parser.add_argument(
        "--recovery-timeout-s",
        type=float,
        default=90.0,
        help="longest wait for the breaker to close (its reset timeout is 60 s by default)",
    )
    args = parser.parse_args(argv)
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

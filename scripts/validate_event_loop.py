"""Start an ASGI app under uvicorn, drive bounded load at it, and check its event-loop lag.

    python scripts/validate_event_loop.py --app serving.main:app --threshold-ms 10

The app runs in a subprocess on a free loopback port with this process's environment
(DATABASE_URL, REDIS_URL, ...). Load is a fixed request rate for a fixed time. The lag comes
from the app's own `converge_event_loop_lag_seconds` histogram (scraped from /metrics before and
after the load); the script exits 1 when its quantile exceeds the threshold, 2 when the check
could not be made (app did not start, no metric, requests failed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import httpx

from serving.launch import app_process, wait_until_ready
from serving.prometheus_text import histogram_buckets, histogram_quantile
from shared.net import free_port

LAG_METRIC = "converge_event_loop_lag_seconds"


async def drive_load(
    base: str, path: str, bodies: list[dict[str, object]], rate: float, duration_s: float
) -> tuple[int, dict[int, int]]:
    """POST `bodies` round-robin at `rate`/s for `duration_s`; returns (sent, counts by status)."""
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def one(body: dict[str, object]) -> None:
            try:
                status = (await client.post(path, json=body)).status_code
            except httpx.HTTPError:
                status = 0
            statuses[status] = statuses.get(status, 0) + 1

        tasks: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        total = int(rate * duration_s)
        for index in range(total):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(bodies[index % len(bodies)])))
        await asyncio.gather(*tasks)
    return total, statuses


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 = within threshold, 1 = over it, 2 = could not check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", required=True, help="ASGI app as module:attribute")
    parser.add_argument("--threshold-ms", type=float, required=True)
    parser.add_argument("--quantile", type=float, default=0.99)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration-s", type=float, default=5.0)
    parser.add_argument("--path", default="/v1/predict")
    parser.add_argument(
        "--body", default='{"entity_id": "validate-event-loop"}', help="JSON request body"
    )
    parser.add_argument("--ready-path", default="/ready")
    parser.add_argument("--startup-timeout-s", type=float, default=60.0)
    args = parser.parse_args(argv)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.setdefault("CONVERGE_SERVING_LOOP_LAG_INTERVAL_S", "0.02")
    uvicorn = [sys.executable, "-m", "uvicorn", args.app, "--host", "127.0.0.1"]
    with app_process([*uvicorn, "--port", str(port), "--log-level", "warning"], env) as process:
        try:
            wait_until_ready(base, process, args.startup_timeout_s, path=args.ready_path)
            before = histogram_buckets(httpx.get(base + "/metrics", timeout=5).text, LAG_METRIC)
            sent, statuses = asyncio.run(
                drive_load(base, args.path, [json.loads(args.body)], args.rate, args.duration_s)
            )
            after = histogram_buckets(httpx.get(base + "/metrics", timeout=5).text, LAG_METRIC)
            if not after:
                raise RuntimeError(f"/metrics has no {LAG_METRIC} histogram")
            lag = histogram_quantile(before, after, args.quantile)
        except (RuntimeError, ValueError, httpx.HTTPError) as exc:
            print(f"validate_event_loop: cannot check: {exc}", file=sys.stderr)
            return 2
    failed = sum(count for status, count in statuses.items() if not 200 <= status < 300)
    print(
        f"validate_event_loop: {sent} requests at {args.rate:.0f}/s, statuses {statuses}; "
        f"loop lag p{args.quantile * 100:g} ~ {lag.value * 1000:.1f} ms (in the bucket "
        f"<= {lag.bucket_upper * 1000:g} ms; threshold {args.threshold_ms:g} ms)"
    )
    if failed:
        print(f"validate_event_loop: {failed} requests failed", file=sys.stderr)
        return 2
    if lag.value * 1000 > args.threshold_ms:
        print("validate_event_loop: FAIL: the event loop lags over the threshold", file=sys.stderr)
        return 1
    print("validate_event_loop: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

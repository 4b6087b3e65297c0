"""A background task that measures event-loop lag: how late a periodic sleep wakes up."""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import Histogram

log = logging.getLogger(__name__)


async def monitor_loop_lag(histogram: Histogram, interval_s: float, warning_ms: float) -> None:
    """Forever: sleep `interval_s`, record the overshoot, warn when it exceeds `warning_ms`."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval_s)
        lag_s = max(0.0, time.perf_counter() - started - interval_s)
        histogram.observe(lag_s)
        if lag_s * 1000 > warning_ms:
            log.warning(
                "event loop lag %.1f ms exceeds %.1f ms: something blocks the loop",
                lag_s * 1000,
                warning_ms,
            )

"""A background task that measures event-loop lag: how late a periodic sleep wakes up.

A lag only says that the loop was blocked, not by what. While the task runs, a watchdog thread
checks that the loop keeps its beat; when it is late by more than the warning threshold, the
thread logs the loop thread's stack at that moment: the code that blocks the loop. A pure-Python
blocker holds the GIL, so the watchdog gets to look within one switch interval (5 ms).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

from prometheus_client import Histogram

log = logging.getLogger(__name__)

STACK_FRAMES = 12  # innermost frames logged for a stalled loop


async def monitor_loop_lag(histogram: Histogram, interval_s: float, warning_ms: float) -> None:
    """Forever: sleep `interval_s`, record the overshoot, warn when it exceeds `warning_ms`."""
    watchdog = StallWatchdog(threading.get_ident(), interval_s + warning_ms / 1000)
    watchdog.start()
    try:
        while True:
            started = time.perf_counter()
            watchdog.beat(started)
            await asyncio.sleep(interval_s)
            lag_s = max(0.0, time.perf_counter() - started - interval_s)
            histogram.observe(lag_s)
            if lag_s * 1000 > warning_ms:
                log.warning(
                    "event loop lag %.1f ms exceeds %.1f ms: something blocks the loop",
                    lag_s * 1000,
                    warning_ms,
                )
    finally:
        watchdog.stop()


class StallWatchdog:
    """A daemon thread that logs the stack of `loop_thread` when its beat is `late_s` overdue."""

    def __init__(self, loop_thread: int, late_s: float) -> None:
        self._loop_thread = loop_thread
        self._late_s = late_s
        self._last_beat = time.perf_counter()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-stall-watchdog", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def beat(self, now: float) -> None:
        """The loop is alive at `now` (time.perf_counter())."""
        self._last_beat = now

    def stop(self) -> None:
        """Stop watching (returns at once; the thread ends within one check)."""
        self._stopped.set()

    def _watch(self) -> None:
        reported = None
        # Checking four times per allowed delay bounds how late a stall is noticed.
        while not self._stopped.wait(self._late_s / 4):
            beat = self._last_beat
            overdue_s = time.perf_counter() - beat
            if overdue_s > self._late_s and beat != reported:
                reported = beat  # one report per stall
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame)[-STACK_FRAMES:])
                    log.warning(
                        "event loop blocked for %.0f ms so far; it is running:\n%s",
                        overdue_s * 1000,
                        stack,
                    )

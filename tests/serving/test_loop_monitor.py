"""The loop-lag monitor records lag into its histogram and warns when something blocks the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from serving.loop_monitor import monitor_loop_lag
from serving.metrics import ServingMetrics


def _lag_samples(metrics: ServingMetrics) -> tuple[float, float]:
    count = metrics.registry.get_sample_value("converge_event_loop_lag_seconds_count") or 0.0
    total = metrics.registry.get_sample_value("converge_event_loop_lag_seconds_sum") or 0.0
    return count, total


async def test_blocking_the_loop_is_measured_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    metrics = ServingMetrics()
    task = asyncio.create_task(monitor_loop_lag(metrics.loop_lag, 0.01, warning_ms=50))
    try:
        await asyncio.sleep(0.1)
        count, total = _lag_samples(metrics)
        assert count >= 3 and total / count < 0.05  # an idle loop wakes timers on time
        with caplog.at_level(logging.WARNING, logger="serving.loop_monitor"):
            time.sleep(0.2)  # noqa: ASYNC251 - block the loop on purpose
            await asyncio.sleep(0.05)
        slow = metrics.registry.get_sample_value(
            "converge_event_loop_lag_seconds_bucket", {"le": "0.1"}
        )
        after_count, _ = _lag_samples(metrics)
        assert slow is not None and slow < after_count  # one sample landed above 100 ms
        assert any("event loop lag" in record.message for record in caplog.records)
    finally:
        task.cancel()


def hold_the_loop(seconds: float) -> None:
    """Busy Python code on the loop: it holds the GIL the whole time."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def test_a_stall_is_logged_with_the_code_that_blocks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = ServingMetrics()
    task = asyncio.create_task(monitor_loop_lag(metrics.loop_lag, 0.01, warning_ms=30))
    try:
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="serving.loop_monitor"):
            hold_the_loop(0.3)
            await asyncio.sleep(0.05)
        stalls = [r.message for r in caplog.records if "in hold_the_loop" in r.message]
        assert len(stalls) == 1, caplog.text  # one report per stall, made during it
        assert stalls[0].startswith("event loop blocked for")
        assert "test_a_stall_is_logged_with_the_code_that_blocks" in stalls[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_idle_loop_reports_no_stall(caplog: pytest.LogCaptureFixture) -> None:
    metrics = ServingMetrics()
    with caplog.at_level(logging.WARNING, logger="serving.loop_monitor"):
        # A generous threshold: only blocking code, not a busy machine, would cross it.
        task = asyncio.create_task(monitor_loop_lag(metrics.loop_lag, 0.01, warning_ms=500))
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "event loop blocked" not in caplog.text
    watchdogs = [t for t in threading.enumerate() if t.name == "loop-stall-watchdog"]
    await asyncio.sleep(0.1)  # the stopped watchdog ends within one check
    assert all(not t.is_alive() for t in watchdogs)

"""The aiobreaker-backed Breaker: opening, one half-open probe, recovery, and the TZ clock fix."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from serving.breaker import AioBreaker, BreakerOpenError, BreakerState

REPO = Path(__file__).resolve().parents[2]


class Dependency:
    """A fake downstream whose health the test controls; counts the calls that reach it."""

    def __init__(self) -> None:
        self.healthy = True
        self.calls = 0
        self.delay_s = 0.0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if not self.healthy:
            raise ConnectionError("dependency down")
        return "ok"


def _state(breaker: AioBreaker) -> BreakerState:
    """The state, read through a call so that mypy does not narrow it across awaits."""
    return breaker.state


async def _fail(breaker: AioBreaker, dependency: Dependency, times: int) -> None:
    for _ in range(times):
        with pytest.raises((ConnectionError, BreakerOpenError)):
            await breaker.call(dependency, timeout_s=1)


async def test_fifth_failure_opens_and_open_breaker_does_not_call() -> None:
    states: list[BreakerState] = []
    breaker = AioBreaker(
        "redis", fail_max=5, reset_timeout_s=60, on_state_change=lambda _, s: states.append(s)
    )
    dependency = Dependency()
    dependency.healthy = False
    await _fail(breaker, dependency, 4)
    assert _state(breaker) is BreakerState.CLOSED
    with pytest.raises(BreakerOpenError):
        await breaker.call(dependency, timeout_s=1)
    assert _state(breaker) is BreakerState.OPEN
    assert states == [BreakerState.OPEN]
    calls = dependency.calls
    with pytest.raises(BreakerOpenError, match="redis circuit breaker is open"):
        await breaker.call(dependency, timeout_s=1)
    assert dependency.calls == calls  # refused without touching the dependency
    remaining = breaker.time_until_reset
    assert remaining is not None and 59 < remaining.total_seconds() <= 60


async def test_timeout_counts_as_failure() -> None:
    breaker = AioBreaker("postgres", fail_max=2, reset_timeout_s=60)
    dependency = Dependency()
    dependency.delay_s = 0.5
    for _ in range(2):
        with pytest.raises((TimeoutError, BreakerOpenError)):
            await breaker.call(dependency, timeout_s=0.01)
    assert _state(breaker) is BreakerState.OPEN


async def test_half_open_admits_exactly_one_probe_among_many_coroutines() -> None:
    breaker = AioBreaker("redis", fail_max=1, reset_timeout_s=0.05)
    dependency = Dependency()
    dependency.healthy = False
    await _fail(breaker, dependency, 1)
    assert _state(breaker) is BreakerState.OPEN
    await asyncio.sleep(0.1)
    dependency.healthy = True
    dependency.delay_s = 0.05  # the probe is still out while the others arrive
    calls_before = dependency.calls
    results = await asyncio.gather(
        *(breaker.call(dependency, timeout_s=1) for _ in range(50)), return_exceptions=True
    )
    admitted = [result for result in results if result == "ok"]
    refused = [result for result in results if isinstance(result, BreakerOpenError)]
    assert len(admitted) == 1
    assert len(refused) == 49
    assert dependency.calls - calls_before == 1
    assert _state(breaker) is BreakerState.CLOSED
    assert await breaker.call(dependency, timeout_s=1) == "ok"


async def test_failed_probe_reopens() -> None:
    breaker = AioBreaker("redis", fail_max=1, reset_timeout_s=0.05)
    dependency = Dependency()
    dependency.healthy = False
    await _fail(breaker, dependency, 1)
    await asyncio.sleep(0.1)
    with pytest.raises(BreakerOpenError, match="Trial call failed"):
        await breaker.call(dependency, timeout_s=1)
    assert _state(breaker) is BreakerState.OPEN
    remaining = breaker.time_until_reset
    assert remaining is not None and remaining.total_seconds() > 0


_TZ_SCRIPT = textwrap.dedent(
    """
    import asyncio, time
    time.tzset()
    from serving.breaker import AioBreaker, BreakerOpenError, BreakerState

    async def down():
        raise ConnectionError("down")

    async def up():
        return "ok"

    async def main():
        breaker = AioBreaker("redis", fail_max=1, reset_timeout_s=0.3)
        try:
            await breaker.call(down, timeout_s=1)
        except BreakerOpenError:
            pass
        remaining = breaker.time_until_reset
        assert remaining is not None and 0 < remaining.total_seconds() <= 0.3, remaining
        try:
            await breaker.call(up, timeout_s=1)
            raise SystemExit("an open breaker let a call through")
        except BreakerOpenError:
            pass
        await asyncio.sleep(0.4)
        assert breaker.time_until_reset is None
        assert await breaker.call(up, timeout_s=1) == "ok"
        assert breaker.state is BreakerState.CLOSED
        print("tz-ok")

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("tz", ["Asia/Tokyo", "America/New_York"])
def test_reopen_clock_is_right_outside_utc(tz: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _TZ_SCRIPT],
        env={**os.environ, "TZ": tz, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tz-ok" in result.stdout

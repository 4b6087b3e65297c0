"""Circuit breakers for serving's dependencies: a `Breaker` protocol and an aiobreaker backend.

aiobreaker 1.2.0 is corrected here in two ways. Its clock mixes `utcnow()` (when it opens) with
`now()` (when it reports the reopen time), which is hours off or a TypeError outside UTC; the
subclass below reads one clock. Its half-open state lets every concurrent coroutine through; the
wrapper admits exactly one probe and rejects the rest until the probe has settled.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import aiobreaker
from aiobreaker.state import CircuitBreakerState

T = TypeVar("T")


class BreakerState(enum.Enum):
    """Where a breaker is; the value is the label used in metrics and /ready."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpenError(Exception):
    """The dependency was not called because its breaker is open (or a probe is already out)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} circuit breaker is open: {reason}")
        self.name = name


StateListener = Callable[[str, BreakerState], None]


class Breaker(Protocol):
    """What serving needs from a circuit breaker, whatever library implements it."""

    name: str

    @property
    def state(self) -> BreakerState:
        """The current state (an elapsed open breaker still reads open until probed)."""
        ...

    async def call(self, func: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Await `func()` within `timeout_s` under the breaker; raise BreakerOpenError when open."""
        ...


def _utcnow() -> datetime:
    # aiobreaker stores naive UTC datetimes in opened_at; every comparison must use the same clock.
    return datetime.utcnow()


class _UtcCircuitBreaker(aiobreaker.CircuitBreaker):  # type: ignore[misc]
    """aiobreaker's breaker with its reopen time computed on the clock it opens with (UTC)."""

    @property
    def opens_at(self) -> datetime | None:
        opened_at: datetime | None = self._state_storage.opened_at
        if opened_at is None:
            return None
        reopen: datetime = opened_at + self.timeout_duration
        return None if reopen < _utcnow() else reopen

    @property
    def time_until_open(self) -> timedelta | None:
        opens_at = self.opens_at
        return None if opens_at is None else opens_at - _utcnow()


class _StateListener(aiobreaker.CircuitBreakerListener):  # type: ignore[misc]
    def __init__(self, callback: StateListener) -> None:
        self._callback = callback
        self._last = BreakerState.CLOSED

    def state_change(self, breaker: Any, old: Any, new: Any) -> None:
        # aiobreaker re-opens an open breaker when calls that started before it opened fail;
        # report changes only.
        state = _STATES[new.state]
        if state is not self._last:
            self._last = state
            self._callback(breaker.name, state)


_STATES = {
    CircuitBreakerState.CLOSED: BreakerState.CLOSED,
    CircuitBreakerState.OPEN: BreakerState.OPEN,
    CircuitBreakerState.HALF_OPEN: BreakerState.HALF_OPEN,
}


class AioBreaker:
    """A `Breaker` backed by aiobreaker, with one half-open probe at a time and a call timeout."""

    def __init__(
        self,
        name: str,
        *,
        fail_max: int,
        reset_timeout_s: float,
        on_state_change: StateListener | None = None,
    ) -> None:
        self.name = name
        listeners = [_StateListener(on_state_change)] if on_state_change else []
        self._breaker = _UtcCircuitBreaker(
            fail_max=fail_max,
            timeout_duration=timedelta(seconds=reset_timeout_s),
            listeners=listeners,
            name=name,
        )
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        return _STATES[self._breaker.current_state]

    @property
    def time_until_reset(self) -> timedelta | None:
        """How long an open breaker stays open, or None when it is not (or may be probed)."""
        if self._breaker.current_state is not CircuitBreakerState.OPEN:
            return None
        remaining: timedelta | None = self._breaker.time_until_open
        return remaining

    def _probing(self) -> bool:
        """Whether the next call would be the half-open trial call."""
        current = self._breaker.current_state
        if current is CircuitBreakerState.HALF_OPEN:
            return True
        return current is CircuitBreakerState.OPEN and self.time_until_reset is None

    async def call(self, func: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Await `func()` within `timeout_s`; failures and timeouts count against the breaker."""

        async def bounded() -> T:
            async with asyncio.timeout(timeout_s):
                return await func()

        if not self._probing():
            return await self._guarded(bounded)
        # Check-and-set with no await in between: one coroutine becomes the probe, atomically.
        if self._probe_in_flight:
            raise BreakerOpenError(self.name, "a half-open probe is already in flight")
        self._probe_in_flight = True
        try:
            return await self._guarded(bounded)
        finally:
            self._probe_in_flight = False

    async def _guarded(self, bounded: Callable[[], Awaitable[T]]) -> T:
        try:
            result: T = await self._breaker.call_async(bounded)
        except aiobreaker.CircuitBreakerError as exc:
            raise BreakerOpenError(self.name, exc.message) from exc.__cause__
        return result

"""Micro-batching: concurrent requests share one feature lookup and one vectorized scoring call.

A request's rows wait at most `max_wait_s` for company, and a batch is flushed as soon as it holds
`max_size` rows. Waiting only pays while company is likely, so the batcher keeps a moving average of
the gap between submissions:
- when that gap is longer than `max_wait_s` (light traffic), a batch leaves as soon as the loop has
  taken in the requests that arrived with it;
- otherwise a batch also leaves early when arrivals pause for `QUIET_GAPS` mean gaps (at least a
  quarter of the window): every caller that could join has joined, as in a closed loop of clients.

Each batch goes through two stages: `prepare`, a coroutine on the event loop that
sees every row of the batch at once (one Redis MGET and one SQL statement for all entities, not one
per request), then `score`, run through `run_in_executor`, never on the event loop; this pays off
because the MOJO runtime spends its time in numpy/numba, which release the GIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

# Weight of the newest gap in the moving average, and the cap on one gap (in windows), so a burst
# after an idle spell turns batching back on within a handful of requests.
GAP_WEIGHT = 0.1
GAP_CAP_WINDOWS = 2.0
# A pause this many mean gaps long (and at least this share of the window) ends a batch early.
QUIET_GAPS = 4.0
QUIET_FLOOR_WINDOWS = 0.25

In = TypeVar("In")
Mid = TypeVar("Mid")
Out = TypeVar("Out")


@dataclass
class _Pending(Generic[In, Out]):
    rows: Sequence[In]
    future: asyncio.Future[list[Out]] = field(repr=False)


class MicroBatcher(Generic[In, Mid, Out]):
    """Collects rows from concurrent callers; `prepare`s a batch on the loop, `score`s it off it."""

    def __init__(
        self,
        score: Callable[[list[Mid]], list[Out]],
        executor: Executor,
        *,
        prepare: Callable[[list[In]], Awaitable[list[Mid]]],
        max_wait_s: float,
        max_size: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._score = score
        self._executor = executor
        self._prepare = prepare
        self._max_wait_s = max_wait_s
        self._max_size = max_size
        self._on_batch = on_batch
        self._pending: list[_Pending[In, Out]] = []
        self._pending_rows = 0
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0  # when the armed timer fires (loop time)
        self._flush_at = 0.0  # when the pending batch is due (loop time)
        self._running: set[asyncio.Task[None]] = set()
        self._window_end = 0.0
        # Start by expecting company (the first requests after start-up often come together).
        self._mean_gap_s = 0.0
        self._last_submit: float | None = None

    def _observe_gap(self, now: float) -> None:
        """Fold the gap since the previous submission into the moving average."""
        if self._last_submit is not None:
            gap = min(now - self._last_submit, GAP_CAP_WINDOWS * self._max_wait_s)
            self._mean_gap_s += GAP_WEIGHT * (gap - self._mean_gap_s)
        self._last_submit = now

    def _arm_flush(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        """Move the flush of the pending batch after a new submission."""
        if self._mean_gap_s > self._max_wait_s:
            # Without company in sight, flush after the requests already taken in this loop turn.
            self._cancel_timer()
            self._timer = loop.call_soon(self._flush)
            self._timer_at = self._flush_at = now
            return
        quiet_s = max(QUIET_GAPS * self._mean_gap_s, QUIET_FLOOR_WINDOWS * self._max_wait_s)
        self._flush_at = min(self._window_end, now + quiet_s)
        # Each submission usually pushes the flush later: rather than re-arming a timer per
        # request, the armed one re-arms itself when it fires early (see `_on_timer`).
        if self._timer is None or self._timer_at > self._flush_at:
            self._cancel_timer()
            self._timer_at = self._flush_at
            self._timer = loop.call_at(self._flush_at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # Deadlines are compared, not clocks: uvloop's clock and timers have millisecond
        # resolution, so a timer may fire before loop.time() reaches its deadline.
        if self._flush_at > self._timer_at:  # later submissions moved the flush back
            self._timer_at = self._flush_at
            self._timer = asyncio.get_running_loop().call_at(self._flush_at, self._on_timer)
            return
        self._flush()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def submit(self, rows: Sequence[In]) -> list[Out]:
        """Score `rows` (in order) as part of the next batch."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._observe_gap(now)
        if not self._pending:
            self._window_end = now + self._max_wait_s
        item: _Pending[In, Out] = _Pending(rows, loop.create_future())
        self._pending.append(item)
        self._pending_rows += len(rows)
        if self._pending_rows >= self._max_size or self._max_wait_s == 0:
            self._flush()
        else:
            self._arm_flush(loop, now)
        return await item.future

    def _flush(self) -> None:
        self._cancel_timer()
        batch, self._pending, self._pending_rows = self._pending, [], 0
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending[In, Out]]) -> None:
        rows = [row for item in batch for row in item.rows]
        if self._on_batch is not None:
            self._on_batch(len(rows))
        try:
            prepared = await self._prepare(rows)
            if len(prepared) != len(rows):
                raise RuntimeError(f"prepare returned {len(prepared)} rows for {len(rows)}")
        except Exception as exc:  # nothing can be scored: every caller gets the cause
            for item in batch:
                _fail(item, exc)
            return
        try:
            results = await self._score_off_loop(prepared)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            # One caller's bad rows must not fail the others: score each caller on its own.
            await asyncio.gather(
                *(
                    _settle(item, self._score_off_loop(part))
                    for item, part in zip(batch, _split(batch, prepared), strict=True)
                )
            )
            return
        for item, part in zip(batch, _split(batch, results), strict=True):
            if not item.future.done():  # the caller may have been cancelled meanwhile
                item.future.set_result(part)

    async def _score_off_loop(self, rows: list[Mid]) -> list[Out]:
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self._score, rows)
        if len(results) != len(rows):
            raise RuntimeError(f"scorer returned {len(results)} results for {len(rows)} rows")
        return results

    async def drain(self) -> None:
        """Flush what is pending and wait for every running batch (used at shutdown)."""
        self._flush()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


T = TypeVar("T")


def _split(batch: Sequence[_Pending[In, Out]], values: list[T]) -> list[list[T]]:
    """`values` (one per row of the batch, in order) cut into one list per caller."""
    parts, start = [], 0
    for item in batch:
        end = start + len(item.rows)
        parts.append(values[start:end])
        start = end
    return parts


def _fail(item: _Pending[In, Out], exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


async def _settle(item: _Pending[In, Out], scoring: Awaitable[list[Out]]) -> None:
    """Resolve one caller's future with its scores or its scoring error."""
    try:
        results = await scoring
    except Exception as exc:  # handed to the caller, who turns it into a response
        _fail(item, exc)
        return
    if not item.future.done():
        item.future.set_result(results)

"""The micro-batcher: concurrent callers share one prepare and one scoring call, each gets its own
rows back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.batcher import QUIET_FLOOR_WINDOWS, MicroBatcher


class Doubler:
    """A scorer that records each batch and the thread it ran on."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, rows: list[int]) -> list[int]:
        self.batches.append(list(rows))
        self.threads.add(threading.current_thread().name)
        return [row * 2 for row in rows]


async def as_is(rows: list[int]) -> list[int]:
    """A prepare stage that passes rows through."""
    return rows


class Recorder:
    """A prepare stage that records each batch it saw and adds 1000 to every row."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, rows: list[int]) -> list[int]:
        self.batches.append(list(rows))
        return [row + 1000 for row in rows]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2, thread_name_prefix="score")
    yield pool
    pool.shutdown()


async def test_concurrent_requests_share_one_batch(executor: ThreadPoolExecutor) -> None:
    scorer, prepare = Doubler(), Recorder()
    sizes: list[int] = []
    batcher = MicroBatcher(
        scorer, executor, prepare=prepare, max_wait_s=0.05, max_size=1000, on_batch=sizes.append
    )
    results = await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(20)))
    assert results == [[2 * (i + 1000), 2 * (i + 1100)] for i in range(20)]
    # One prepare (on the loop) and one scoring call (in the pool) for all 20 callers.
    assert prepare.batches == [[row for i in range(20) for row in (i, i + 100)]]
    assert len(scorer.batches) == 1 and sizes == [40]
    assert scorer.threads and all(name.startswith("score") for name in scorer.threads)


async def test_full_batch_flushes_without_waiting(executor: ThreadPoolExecutor) -> None:
    scorer = Doubler()
    batcher = MicroBatcher(scorer, executor, prepare=as_is, max_wait_s=10.0, max_size=4)
    async with asyncio.timeout(2):  # the 10 s wait would blow this if size did not flush
        results = await asyncio.gather(*(batcher.submit([i]) for i in range(8)))
    assert results == [[2 * i] for i in range(8)]
    assert [len(batch) for batch in scorer.batches] == [4, 4]


async def test_scoring_error_reaches_every_caller_of_the_batch(
    executor: ThreadPoolExecutor,
) -> None:
    def broken(rows: list[int]) -> list[int]:
        raise ValueError(f"cannot score {len(rows)} rows")

    batcher: MicroBatcher[int, int, int] = MicroBatcher(
        broken, executor, prepare=as_is, max_wait_s=0.01, max_size=100
    )
    results = await asyncio.gather(*(batcher.submit([i]) for i in range(3)), return_exceptions=True)
    # Each caller is retried alone, so each sees the error of its own rows.
    assert all(isinstance(r, ValueError) and "cannot score 1 rows" in str(r) for r in results)
    # The batcher still works after a failed batch.
    ok: MicroBatcher[int, int, int] = MicroBatcher(
        Doubler(), executor, prepare=as_is, max_wait_s=0.0, max_size=10
    )
    assert await ok.submit([5]) == [10]


async def test_one_callers_bad_rows_do_not_fail_the_others(
    executor: ThreadPoolExecutor,
) -> None:
    def strict(rows: list[int]) -> list[int]:
        if any(row < 0 for row in rows):
            raise ValueError("negative row")
        return [row * 2 for row in rows]

    prepare = Recorder()
    batcher: MicroBatcher[int, int, int] = MicroBatcher(
        strict, executor, prepare=prepare, max_wait_s=0.05, max_size=100
    )
    results = await asyncio.gather(
        batcher.submit([1]),
        batcher.submit([-1001]),
        batcher.submit([3, 4]),
        return_exceptions=True,
    )
    assert results[0] == [2002] and results[2] == [2006, 2008]
    assert isinstance(results[1], ValueError)
    # The retry scores each caller's prepared rows: the batch is not prepared again.
    assert prepare.batches == [[1, -1001, 3, 4]]


async def test_prepare_error_reaches_every_caller(executor: ThreadPoolExecutor) -> None:
    async def lost(rows: list[int]) -> list[int]:
        raise ConnectionError(f"lookup of {len(rows)} rows failed")

    scorer = Doubler()
    batcher = MicroBatcher(scorer, executor, prepare=lost, max_wait_s=0.01, max_size=100)
    results = await asyncio.gather(*(batcher.submit([i]) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) and "of 3 rows" in str(r) for r in results)
    assert scorer.batches == []  # nothing was scored


async def test_prepare_must_keep_one_row_per_row(executor: ThreadPoolExecutor) -> None:
    async def drops(rows: list[int]) -> list[int]:
        return rows[1:]

    batcher = MicroBatcher(Doubler(), executor, prepare=drops, max_wait_s=0.0, max_size=10)
    with pytest.raises(RuntimeError, match="prepare returned 1 rows for 2"):
        await batcher.submit([1, 2])


async def test_wrong_result_count_is_an_error(executor: ThreadPoolExecutor) -> None:
    batcher: MicroBatcher[int, int, int] = MicroBatcher(
        lambda rows: rows[:-1], executor, prepare=as_is, max_wait_s=0.0, max_size=10
    )
    with pytest.raises(RuntimeError, match="1 results for 2 rows"):
        await batcher.submit([1, 2])


async def test_drain_finishes_pending_work(executor: ThreadPoolExecutor) -> None:
    batcher = MicroBatcher(Doubler(), executor, prepare=as_is, max_wait_s=10.0, max_size=100)
    pending = asyncio.create_task(batcher.submit([3]))
    await asyncio.sleep(0)
    await batcher.drain()
    assert await pending == [6]


async def test_light_traffic_is_not_held_for_company(executor: ThreadPoolExecutor) -> None:
    window_s = 0.1
    scorer = Doubler()
    batcher = MicroBatcher(scorer, executor, prepare=as_is, max_wait_s=window_s, max_size=100)
    loop = asyncio.get_running_loop()

    async def timed_submit() -> float:
        started = loop.time()
        assert await batcher.submit([1]) == [2]
        return loop.time() - started

    # Right after start-up company is expected: a lone request waits for it, but only until
    # arrivals have paused for a while, not the whole window.
    assert QUIET_FLOOR_WINDOWS * window_s <= await timed_submit() < window_s
    # Requests further apart than the window: the batcher stops waiting for company.
    for _ in range(8):
        await asyncio.sleep(2 * window_s)
        last = await timed_submit()
    assert last < window_s / 2
    # A burst brings waiting back: requests a millisecond apart share batches again.
    batches_before = len(scorer.batches)
    calls = []
    for i in range(30):
        calls.append(asyncio.ensure_future(batcher.submit([i])))
        await asyncio.sleep(0.001)
    assert [result for call in calls for result in await call] == [2 * i for i in range(30)]
    assert len(scorer.batches) - batches_before < 10


async def test_steady_arrivals_keep_a_batch_open_and_a_pause_closes_it(
    executor: ThreadPoolExecutor,
) -> None:
    scorer = Doubler()
    batcher = MicroBatcher(scorer, executor, prepare=as_is, max_wait_s=1.0, max_size=100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    calls = []
    for i in range(15):  # 10 ms apart: well inside the pause that would end the batch
        calls.append(asyncio.ensure_future(batcher.submit([i])))
        await asyncio.sleep(0.01)
    results = [result for call in calls for result in await call]
    assert results == [2 * i for i in range(15)]
    assert len(scorer.batches) == 1
    # The pause after the last arrival closed the batch long before its 1 s window ended.
    assert loop.time() - started < 0.7


async def test_steady_arrivals_cannot_hold_a_batch_past_its_window(
    executor: ThreadPoolExecutor,
) -> None:
    window_s = 0.1
    scorer = Doubler()
    batcher = MicroBatcher(scorer, executor, prepare=as_is, max_wait_s=window_s, max_size=1000)
    calls = []
    for i in range(50):  # 10 ms apart for 0.5 s: no pause ever closes a batch early
        calls.append(asyncio.ensure_future(batcher.submit([i])))
        await asyncio.sleep(0.01)
    results = [result for call in calls for result in await call]
    assert results == [2 * i for i in range(50)]
    # Every batch left when its window ended: about one per 100 ms, none spanning two windows.
    assert 4 <= len(scorer.batches) <= 8
    assert max(len(batch) for batch in scorer.batches) <= 11

"""Scoring a large frame on several threads: contiguous row ranges, results kept in row order.

The kernels run with `nogil=True`, so the threads score at the same time; what holds the GIL
(pandas and arrow calls between the kernels) is a few percent of the work, and the calling
thread's own share (handing the ranges over, joining, the output frame) bounds the speed-up
(`converge bench mojo` prints it). Small frames stay on the calling thread: a range below
`MIN_ROWS_PER_THREAD` costs more to hand over than it saves.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

import numpy as np

from shared.mojo.errors import MojoInputError
from shared.mojo.scorer import FloatArray

if TYPE_CHECKING:
    import pandas as pd

MIN_ROWS_PER_THREAD = 10_000

# Pools kept between calls, by thread count: starting a thread blocks the caller until it runs
# (0.2-0.4 ms each), which was most of the calling thread's serial share of a 100,000-row frame.
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers narrow)."""
    return len(os.sched_getaffinity(0))


def row_ranges(rows: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous `[start, stop)` ranges, at most `threads`, none under MIN_ROWS_PER_THREAD."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    count = max(1, min(threads, rows // MIN_ROWS_PER_THREAD))
    bounds = np.linspace(0, rows, count + 1).astype(np.int64).tolist()
    return list(itertools.pairwise(bounds))


def score_split(
    score: Callable[[pd.DataFrame], FloatArray], frame: pd.DataFrame, threads: int
) -> FloatArray:
    """`score(frame)`, computed on up to `threads` threads over contiguous row ranges."""
    ranges = row_ranges(len(frame), threads)
    if len(ranges) == 1:
        return score(frame)

    def part(bounds: tuple[int, int]) -> FloatArray:
        return score(frame.iloc[bounds[0] : bounds[1]])

    # The calling thread scores the first range itself instead of waiting idle.
    others = [_pool(len(ranges) - 1).submit(part, bounds) for bounds in ranges[1:]]
    try:
        parts = [part(ranges[0]), *(future.result() for future in others)]
    except BaseException as error:
        wait(others)  # no range outlives the call
        if not isinstance(error, MojoInputError):
            raise
        # A message names rows by their position in the range; scoring the whole frame on one
        # thread raises the same refusal with the row numbers of the user's input.
        return score(frame)
    return np.concatenate(parts)


def _pool(workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="mojo-score")
        return pool


def _forget_pools() -> None:
    # A forked child has none of its parent's threads (and maybe a lock held by one of them).
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)

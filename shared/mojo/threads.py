"""Scoring a large frame on several threads: contiguous row ranges, results kept in row order.

The kernels run with `nogil=True`, so the threads score at the same time; encoding the text
columns holds the GIL for part of its work, which bounds the speed-up (`converge bench mojo`
prints it). Small frames stay on the calling thread: a range below `MIN_ROWS_PER_THREAD` costs
more to hand over than it saves.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from shared.mojo.errors import MojoInputError
from shared.mojo.scorer import FloatArray

if TYPE_CHECKING:
    import pandas as pd

MIN_ROWS_PER_THREAD = 10_000


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
    try:
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            parts = list(pool.map(lambda r: score(frame.iloc[r[0] : r[1]]), ranges))
    except MojoInputError:
        # A message names rows by their position in the range; scoring the whole frame on one
        # thread raises the same refusal with the row numbers of the user's input.
        return score(frame)
    return np.concatenate(parts)

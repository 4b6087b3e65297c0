"""The compiled forest evaluator: numba, `nogil=True`, so serving threads score in parallel.

Chosen by measurement over treelite's gtil and vectorised numpy (see `converge bench mojo` and
docs/mojo.md): it is the only one of the three that reproduces genmodel's split rules exactly
(stale bitsets, out-of-range levels, float32 accumulation for XGBoost) and it is the fastest here.
Compiled code is cached on disk; a read-only install falls back to numba's user cache directory and,
failing that, compiles in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from numba import njit

from shared.mojo import forest as layout
from shared.mojo.forest import Forest
from shared.mojo.split_rule import COMPARE, MISSING, NEGATIVE, PAST_LEVELS, RIGHT

log = logging.getLogger(__name__)
# Rows walked through one tree before the next tree.
ROW_BLOCK = 256
# Rows that walk a tree together.
LOCKSTEP = 16
# The layout's field offsets as unsigned constants of the walk.
NODE_FIELDS, COLUMN = np.uint64(layout.NODE_FIELDS), np.uint64(layout.COLUMN)
FIRST_CHILD, PAST, LEVELS = (np.uint64(f) for f in (layout.FIRST_CHILD, layout.PAST, layout.LEVELS))
MISSING_STEP, NEGATIVE_STEP = np.uint64(MISSING - PAST_LEVELS), np.uint64(NEGATIVE - PAST_LEVELS)


def compile_nogil(function: Callable[..., Any], *, inline: bool = False) -> Any:
    """`function` compiled by numba without the GIL, cached on disk when a cache dir is writable.

    An `inline` helper is compiled into each kernel that calls it (numba's IR inlining), not on
    its own: it is no kernel of the cache's `COMPILED` lists.
    """
    inlining: Literal["always", "never"] = "always" if inline else "never"
    try:
        return njit(nogil=True, cache=True, inline=inlining)(function)
    except RuntimeError as error:  # "cannot cache function ...: no locator available"
        log.warning("numba cannot cache %s (%s); compiling in memory", function.__name__, error)
        return njit(nogil=True, cache=False, inline=inlining)(function)


def _walk_forest(
    x: npt.NDArray[np.float64],
    nodes: npt.NDArray[np.uint32],
    splits: npt.NDArray[np.float64],
    tables: npt.NDArray[np.uint8],
    values: npt.NDArray[np.float64],
    roots: npt.NDArray[np.uint32],
    depths: npt.NDArray[np.int32],
    outputs: npt.NDArray[np.int32],
    float32_sum: bool,
    block: int,
    out: npt.NDArray[np.float64],
) -> None:
    # Unsigned indices throughout: numba adds no negative-index wraparound to their loads.
    at = np.empty(LOCKSTEP, dtype=np.uint64)
    row_at = np.empty(LOCKSTEP, dtype=np.uint64)  # where each row's values start in `flat`
    width_x = np.uint64(x.shape[1])
    flat = x.reshape(-1)
    for start in range(0, x.shape[0], block):
        stop = min(start + block, x.shape[0])
        # Tree by tree over a block of rows, so the tree's nodes stay in cache; each row still
        # adds the trees in order.
        for tree in range(roots.shape[0]):
            root, depth, k = roots[tree], depths[tree], outputs[tree]
            for first in range(start, stop, LOCKSTEP):
                # LOCKSTEP rows step down the tree together: their walks are independent chains
                # of loads that the CPU overlaps.
                width = min(LOCKSTEP, stop - first)
                at[:width] = root
                for i in range(width):
                    row_at[i] = np.uint64(first + i) * width_x
                for _ in range(depth):
                    for i in range(width):
                        node = at[i]
                        record = node * NODE_FIELDS
                        d = flat[row_at[i] + nodes[record + COLUMN]]
                        # The entry of `split_rule.decision_table` for d, chosen without a branch:
                        # a level below `levels` reads its own entry, anything else an entry past
                        # the levels (missing, <= -1 or a level from `levels` up).
                        levels = nodes[record + LEVELS]
                        inside = (d > -1.0) & (d < np.float64(levels))
                        level = np.uint64(d if inside else 0.0)
                        entry_at = nodes[record + PAST] + (level - levels) * np.uint64(inside)
                        entry_at += np.uint64(np.isnan(d)) * MISSING_STEP
                        entry_at += np.uint64(d <= -1.0) * NEGATIVE_STEP
                        entry = tables[entry_at]
                        compare = (d >= splits[node]) & ((entry & COMPARE) != 0)
                        go = np.uint64(compare | ((entry & RIGHT) != 0))
                        at[i] = nodes[record + FIRST_CHILD] + go
                for i in range(width):
                    row = first + i
                    if float32_sum:
                        # XGBoost's Java predictor adds leaves in float32, one at a time.
                        out[row, k] = np.float32(out[row, k] + values[at[i]])
                    else:
                        out[row, k] += values[at[i]]


_walk_forest_compiled = compile_nogil(_walk_forest)


def score_forest(
    forest: Forest, x: npt.NDArray[np.float64], out: npt.NDArray[np.float64], float32_sum: bool
) -> None:
    """Add every tree's leaf value for each row of `x` into `out[row, tree output column]`."""
    _walk_forest_compiled(
        np.ascontiguousarray(x, dtype=np.float64),
        forest.nodes,
        forest.splits,
        forest.tables,
        forest.values,
        forest.roots,
        forest.depths,
        forest.outputs,
        float32_sum,
        ROW_BLOCK,
        out,
    )


def _walk_hyperplanes(
    x: npt.NDArray[np.float64],
    normal: npt.NDArray[np.float64],
    point: npt.NDArray[np.float64],
    left: npt.NDArray[np.int32],
    right: npt.NDArray[np.int32],
    is_leaf: npt.NDArray[np.bool_],
    value: npt.NDArray[np.float64],
    roots: npt.NDArray[np.int32],
    out: npt.NDArray[np.float64],
) -> None:
    for row in range(x.shape[0]):
        total = 0.0
        for tree in range(roots.shape[0]):
            node = roots[tree]
            while not is_leaf[node]:
                # genmodel's ArrayUtils.subAndMul, summed column by column (NaN goes right).
                product = 0.0
                for c in range(x.shape[1]):
                    product += (x[row, c] - point[node, c]) * normal[node, c]
                node = left[node] if product <= 0 else right[node]
            total += value[node]
        out[row] = total


_walk_hyperplanes_compiled = compile_nogil(_walk_hyperplanes)
# What the shipped kernel cache compiles (shared/kernel_cache.py).
COMPILED = (_walk_forest_compiled, _walk_hyperplanes_compiled)


def score_hyperplanes(
    x: npt.NDArray[np.float64],
    normal: npt.NDArray[np.float64],
    point: npt.NDArray[np.float64],
    children: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]],
    is_leaf: npt.NDArray[np.bool_],
    value: npt.NDArray[np.float64],
    roots: npt.NDArray[np.int32],
) -> npt.NDArray[np.float64]:
    """Per row of `x`, the sum over trees of the leaf value reached (Extended Isolation Forest)."""
    out = np.zeros(x.shape[0])
    left, right = children
    _walk_hyperplanes_compiled(
        np.ascontiguousarray(x, dtype=np.float64),
        normal,
        point,
        left,
        right,
        is_leaf,
        value,
        roots,
        out,
    )
    return out

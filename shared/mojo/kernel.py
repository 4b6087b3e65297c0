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
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from shared.mojo.forest import Forest

log = logging.getLogger(__name__)


def compile_nogil(function: Callable[..., Any]) -> Any:
    """`function` compiled by numba without the GIL, cached on disk when a cache dir is writable."""
    try:
        return njit(nogil=True, cache=True)(function)
    except RuntimeError as error:  # "cannot cache function ...: no locator available"
        log.warning("numba cannot cache %s (%s); compiling in memory", function.__name__, error)
        return njit(nogil=True, cache=False)(function)


def _walk_forest(
    x: npt.NDArray[np.float64],
    col: npt.NDArray[np.int32],
    equal: npt.NDArray[np.int8],
    na_vs_rest: npt.NDArray[np.bool_],
    leftward: npt.NDArray[np.bool_],
    split: npt.NDArray[np.float64],
    bits_start: npt.NDArray[np.int64],
    bits_offset: npt.NDArray[np.int64],
    bits_count: npt.NDArray[np.int64],
    left: npt.NDArray[np.int32],
    right: npt.NDArray[np.int32],
    value: npt.NDArray[np.float64],
    bits: npt.NDArray[np.uint8],
    roots: npt.NDArray[np.int32],
    outputs: npt.NDArray[np.int32],
    domain_sizes: npt.NDArray[np.int64],
    float32_sum: bool,
    out: npt.NDArray[np.float64],
) -> None:
    for row in range(x.shape[0]):
        for tree in range(roots.shape[0]):
            node = roots[tree]
            # genmodel keeps the last bitset it read on the way down and tests NA-vs-rest
            # categorical nodes against it; `current` mirrors that.
            current = -1
            while col[node] >= 0:
                c = col[node]
                d = x[row, c]
                if not na_vs_rest[node] and equal[node] != 0:
                    current = node
                go_na = np.isnan(d)
                if not go_na and equal[node] != 0 and current >= 0:
                    position = int(d) - bits_offset[current]
                    go_na = position < 0 or position >= bits_count[current]
                if not go_na and domain_sizes[c] >= 0:
                    go_na = domain_sizes[c] <= int(d)
                if go_na:
                    go_right = not leftward[node]
                elif na_vs_rest[node]:
                    go_right = False
                elif equal[node] == 0:
                    go_right = d >= split[node]
                else:
                    position = int(d) - bits_offset[current]
                    if position < 0 or position >= bits_count[current]:
                        go_right = False
                    else:
                        byte = bits[bits_start[current] + (position >> 3)]
                        go_right = (byte >> (position & 7)) & 1 == 1
                node = right[node] if go_right else left[node]
            k = outputs[tree]
            if float32_sum:
                # XGBoost's Java predictor adds leaves in float32, one at a time.
                out[row, k] = np.float32(out[row, k] + value[node])
            else:
                out[row, k] += value[node]


_walk_forest_compiled = compile_nogil(_walk_forest)


def score_forest(
    forest: Forest, x: npt.NDArray[np.float64], out: npt.NDArray[np.float64], float32_sum: bool
) -> None:
    """Add every tree's leaf value for each row of `x` into `out[row, tree output column]`."""
    _walk_forest_compiled(
        np.ascontiguousarray(x, dtype=np.float64),
        forest.col,
        forest.equal,
        forest.na_vs_rest,
        forest.leftward,
        forest.split,
        forest.bits_start,
        forest.bits_offset,
        forest.bits_count,
        forest.left,
        forest.right,
        forest.value,
        forest.bits,
        forest.roots,
        forest.outputs,
        forest.domain_sizes,
        float32_sum,
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

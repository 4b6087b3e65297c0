"""DeepLearning's layer sums, compiled with numba: genmodel's summation order, vectorised over rows.

genmodel computes every neuron's weighted sum in a fixed order (`NeuralNetwork.formNNInputs`: eight
interleaved partial sums, then the leftover columns, then the bias; `formNNInputsMaxOut`: one
running sum in column order). A BLAS product rounds in another order, which is invisible on ordinary
inputs but not on values like 1e30, where the last bits of a sum are whole units of the output. So
the sums are done here in genmodel's order for each row, with rows innermost (contiguous, so LLVM
vectorises over rows without reordering any one row's additions) and four neurons per pass (each
input value loaded once for four accumulators).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

_ROW_BLOCK = 128  # rows per pass: 4 neurons x 8 partial sums x 128 rows stay in L1/L2


def _compile(function: Callable[..., Any]) -> Any:
    try:
        return njit(nogil=True, cache=True, boundscheck=False)(function)
    except RuntimeError as error:  # "cannot cache function ...: no locator available"
        log.warning("numba cannot cache the network kernel (%s); compiling in memory", error)
        return njit(nogil=True, cache=False, boundscheck=False)(function)


def _weighted_sums(
    inputs: FloatArray, weights: FloatArray, bias: FloatArray, stripes: int, out: FloatArray
) -> None:
    # inputs (columns, rows), weights (neurons, columns), out (neurons, rows). With stripes=8,
    # column c goes to partial sum c % 8 up to the last multiple of 8, as genmodel's gemv does;
    # with stripes=1 there is one running sum, as in its Maxout layer.
    columns, rows = inputs.shape
    neurons = weights.shape[0]
    striped = (columns // stripes) * stripes
    partial = np.empty((4, stripes, _ROW_BLOCK))
    for start in range(0, rows, _ROW_BLOCK):
        count = min(start + _ROW_BLOCK, rows) - start
        for first in range(0, neurons, 4):
            group = min(4, neurons - first)
            partial[:] = 0.0
            for column in range(0, striped, stripes):
                for stripe in range(stripes):
                    x = inputs[column + stripe, start : start + count]
                    if group == 4:
                        w0 = weights[first, column + stripe]
                        w1 = weights[first + 1, column + stripe]
                        w2 = weights[first + 2, column + stripe]
                        w3 = weights[first + 3, column + stripe]
                        p0 = partial[0, stripe]
                        p1 = partial[1, stripe]
                        p2 = partial[2, stripe]
                        p3 = partial[3, stripe]
                        for row in range(count):
                            value = x[row]
                            p0[row] += w0 * value
                            p1[row] += w1 * value
                            p2[row] += w2 * value
                            p3[row] += w3 * value
                    else:
                        for j in range(group):
                            w = weights[first + j, column + stripe]
                            p = partial[j, stripe]
                            for row in range(count):
                                p[row] += w * x[row]
            for j in range(group):
                neuron = first + j
                p = partial[j]
                for row in range(count):
                    if stripes == 8:
                        total = 0.0 + (((p[0, row] + p[1, row]) + p[2, row]) + p[3, row])
                        total += ((p[4, row] + p[5, row]) + p[6, row]) + p[7, row]
                    else:
                        total = p[0, row]
                    for column in range(striped, columns):
                        total += weights[neuron, column] * inputs[column, start + row]
                    out[neuron, start + row] = total + bias[neuron]


_weighted_sums_compiled = _compile(_weighted_sums)


def weighted_sums(
    inputs: FloatArray, weights: FloatArray, bias: FloatArray, stripes: int
) -> FloatArray:
    """`weights @ inputs + bias` per row (inputs laid out neurons x rows), in genmodel's order."""
    out = np.empty((weights.shape[0], inputs.shape[1]))
    _weighted_sums_compiled(np.ascontiguousarray(inputs), weights, bias, stripes, out)
    return out

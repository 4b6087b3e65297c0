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

import numpy as np
import numpy.typing as npt

from shared.mojo.kernel import compile_nogil

FloatArray = npt.NDArray[np.float64]

_ROW_BLOCK = 64  # rows per pass: 4 neurons x 8 partial sums x 64 rows (16 KB) stay in L1


def _weighted_sums(
    inputs: FloatArray,
    weights: FloatArray,
    bias: FloatArray,
    stripes: int,
    rectify: bool,
    out: FloatArray,
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
            for stripe in range(stripes):
                # Only each partial sum's own order matters: its columns stripe, stripe + stripes,
                # ... in turn. Four of them per pass load and store each accumulator once.
                column = stripe
                if group == 4:
                    p0 = partial[0, stripe]
                    p1 = partial[1, stripe]
                    p2 = partial[2, stripe]
                    p3 = partial[3, stripe]
                    while column + 3 * stripes < striped:
                        c1, c2, c3 = column + stripes, column + 2 * stripes, column + 3 * stripes
                        xa = inputs[column, start : start + count]
                        xb = inputs[c1, start : start + count]
                        xc = inputs[c2, start : start + count]
                        xd = inputs[c3, start : start + count]
                        w0 = weights[first]
                        w1 = weights[first + 1]
                        w2 = weights[first + 2]
                        w3 = weights[first + 3]
                        w0a, w0b, w0c, w0d = w0[column], w0[c1], w0[c2], w0[c3]
                        w1a, w1b, w1c, w1d = w1[column], w1[c1], w1[c2], w1[c3]
                        w2a, w2b, w2c, w2d = w2[column], w2[c1], w2[c2], w2[c3]
                        w3a, w3b, w3c, w3d = w3[column], w3[c1], w3[c2], w3[c3]
                        for row in range(count):
                            a, b, c, d = xa[row], xb[row], xc[row], xd[row]
                            p0[row] = (((p0[row] + w0a * a) + w0b * b) + w0c * c) + w0d * d
                            p1[row] = (((p1[row] + w1a * a) + w1b * b) + w1c * c) + w1d * d
                            p2[row] = (((p2[row] + w2a * a) + w2b * b) + w2c * c) + w2d * d
                            p3[row] = (((p3[row] + w3a * a) + w3b * b) + w3c * c) + w3d * d
                        column += 4 * stripes
                while column < striped:
                    x = inputs[column, start : start + count]
                    for j in range(group):
                        w = weights[first + j, column]
                        p = partial[j, stripe]
                        for row in range(count):
                            p[row] += w * x[row]
                    column += stripes
            for j in range(group):
                # Every row's total in genmodel's order, each step vectorised over the rows.
                neuron = first + j
                p = partial[j]
                total = out[neuron, start : start + count]
                if stripes == 8:
                    for row in range(count):
                        total[row] = 0.0 + (((p[0, row] + p[1, row]) + p[2, row]) + p[3, row])
                    for row in range(count):
                        total[row] += ((p[4, row] + p[5, row]) + p[6, row]) + p[7, row]
                else:
                    total[:] = p[0, :count]
                for column in range(striped, columns):
                    w = weights[neuron, column]
                    x = inputs[column, start : start + count]
                    for row in range(count):
                        total[row] += w * x[row]
                b = bias[neuron]
                for row in range(count):
                    total[row] += b
                if rectify:  # RectifierOut, fused: 0.5 * (x + |x|)
                    for row in range(count):
                        total[row] = 0.5 * (total[row] + abs(total[row]))


_weighted_sums_compiled = compile_nogil(_weighted_sums)
# What the shipped kernel cache compiles (shared/kernel_cache.py).
COMPILED = (_weighted_sums_compiled,)


def weighted_sums(
    inputs: FloatArray, weights: FloatArray, bias: FloatArray, stripes: int, rectify: bool = False
) -> FloatArray:
    """`weights @ inputs + bias` per row (inputs laid out neurons x rows), in genmodel's order.

    With `rectify`, genmodel's Rectifier is applied to the sums in the same pass.
    """
    out = np.empty((weights.shape[0], inputs.shape[1]))
    _weighted_sums_compiled(np.ascontiguousarray(inputs), weights, bias, stripes, rectify, out)
    return out

"""The layer kernel sums in genmodel's order to the bit, for any layer shape and row count."""

from __future__ import annotations

import numpy as np
import pytest

from shared.mojo.network_kernel import FloatArray, weighted_sums


def _genmodel_sums(
    row: FloatArray, weights: FloatArray, bias: FloatArray, stripes: int
) -> list[float]:
    """NeuralNetwork.formNNInputs (stripes=8) or formNNInputsMaxOut (stripes=1) for one row."""
    columns = len(row)
    out = []
    for neuron in range(weights.shape[0]):
        w = weights[neuron]
        if stripes == 1:
            total = 0.0
            for column in range(columns):
                total += float(row[column]) * float(w[column])
        else:
            partial = [0.0] * 8
            for column in range(0, (columns // 8) * 8 - 1, 8):
                for k in range(8):
                    partial[k] += float(w[column + k]) * float(row[column + k])
            total = 0.0
            total += partial[0] + partial[1] + partial[2] + partial[3]
            total += partial[4] + partial[5] + partial[6] + partial[7]
            for column in range(columns - columns % 8, columns):
                total += float(w[column]) * float(row[column])
        out.append(total + float(bias[neuron]))
    return out


@pytest.mark.parametrize(
    ("columns", "neurons", "rows", "stripes"),
    [
        (3, 5, 1, 8),
        (21, 5, 7, 8),
        (200, 9, 3, 8),
        (8, 4, 70, 8),
        (17, 9, 130, 8),
        (43, 7, 65, 8),
        (13, 6, 67, 1),
        (13, 6, 2, 1),
        (1, 1, 3, 1),
    ],
)
def test_sums_match_genmodel_bit_for_bit(
    columns: int, neurons: int, rows: int, stripes: int
) -> None:
    rng = np.random.default_rng(columns * 100 + neurons)
    # magnitudes from 1e-3 to 1e30: any other summation order changes the last bits
    inputs = rng.normal(size=(columns, rows)) * 10.0 ** rng.integers(-3, 31, size=(columns, rows))
    weights = rng.normal(size=(neurons, columns)).astype(np.float32).astype(np.float64)
    bias = rng.normal(size=neurons)
    ours = weighted_sums(inputs, weights, bias, stripes)
    rectified = weighted_sums(inputs, weights, bias, stripes, rectify=True)
    for row in range(rows):
        expected = _genmodel_sums(inputs[:, row], weights, bias, stripes)
        assert ours[:, row].tolist() == expected, f"row {row}"
        # RectifierOut: 0.5f * (x + Math.abs(x))
        assert rectified[:, row].tolist() == [0.5 * (x + abs(x)) for x in expected], f"row {row}"

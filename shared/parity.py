"""The parity rule training and `converge registry register` share: runtime vs H2O's predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd

PARITY_TOLERANCE = 1e-6


class ParityError(AssertionError):
    """The JVM-free runtime and H2O disagree beyond the tolerance, or on the shape of the output."""


def parity_difference(h2o_predictions: pd.DataFrame, runtime: pd.DataFrame) -> tuple[str, float]:
    """The runtime column that differs most from H2O's probabilities, and by how much.

    Probability columns are matched by position (both follow the response domain order); H2O's
    Python client and genmodel name them differently (`p0` vs the class label). A regression has
    none: its `predict` value is compared instead.
    """
    expected = h2o_predictions.drop(columns=["predict"], errors="ignore")
    actual = runtime.drop(columns=["predict"], errors="ignore")
    if expected.shape != actual.shape:
        raise ParityError(
            f"runtime returned columns {list(runtime.columns)} for {len(runtime)} rows; "
            f"H2O returned {list(h2o_predictions.columns)} for {len(h2o_predictions)} rows"
        )
    if actual.shape[1] == 0:
        expected, actual = h2o_predictions[["predict"]], runtime[["predict"]]
    diffs = np.abs(actual.to_numpy(dtype=float) - expected.to_numpy(dtype=float)).max(axis=0)
    worst = int(np.argmax(diffs))
    return str(actual.columns[worst]), float(diffs[worst])


def check_parity(h2o_predictions: pd.DataFrame, runtime: pd.DataFrame, what: str) -> float:
    """The largest difference, or ParityError naming `what`, the column and the difference."""
    column, difference = parity_difference(h2o_predictions, runtime)
    # NaN is no agreement: `difference > tolerance` alone would let it pass.
    if not difference <= PARITY_TOLERANCE:
        raise ParityError(
            f"{what}: JVM-free runtime differs from H2O on column {column!r} "
            f"by {difference:.3e} (tolerance {PARITY_TOLERANCE:.0e})"
        )
    return difference

"""XGBoost's gblinear booster scored as the Java predictor's GBLinear does, in float32."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = np.float32


def linear_margins(
    weights: npt.NDArray[np.float32], x: npt.NDArray[np.float64], start: np.float32
) -> npt.NDArray[np.float32]:
    """Per row and class group: bias + start, then + value * weight feature by feature.

    `weights` is (features + 1, groups) with the biases last; `x` holds float32 values. Missing
    (NaN) features are skipped. The sum runs in float32 in feature order, as the Java loop does.
    """
    values = x.astype(F32)
    total = np.repeat((weights[-1] + start)[np.newaxis, :], len(x), axis=0)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * w and inf - inf as in Java
        for feature in range(weights.shape[0] - 1):
            value = values[:, feature : feature + 1]
            total = np.where(np.isnan(value), total, total + value * weights[feature])
    return total

"""K-means: genmodel's standardisation and mixed distance, the nearest centre's index per row."""

from __future__ import annotations

import numpy as np

from shared.mojo.archive import MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray, check_common

KMEANS_MOJO_VERSIONS = ("1.00",)
_JAVA_MAX_DOUBLE = np.finfo(np.float64).max


def _required(info: MojoInfo, key: str, width: int) -> FloatArray:
    vector = info.optional_numbers(key)
    if vector is None or vector.shape != (width,):
        raise UnsupportedMojoError(f"model.ini '{key}' does not hold {width} numbers")
    return vector


class KMeansScorer:
    """hex.genmodel.algos.kmeans.KMeansMojoModel (score0: the closest centre)."""

    def __init__(self, info: MojoInfo) -> None:
        check_common(info, KMEANS_MOJO_VERSIONS, categories=("Clustering",))
        width = info.n_features
        self.output_names = ["cluster"]
        self._categorical = np.asarray([domain is not None for domain in info.feature_domains])
        self._standardize = info.flag("standardize")
        if self._standardize:
            self._means = _required(info, "standardize_means", width)
            self._mults = info.optional_numbers("standardize_mults")
            if self._mults is not None and self._mults.shape != (width,):
                raise UnsupportedMojoError(f"model.ini 'standardize_mults' is not {width} wide")
            self._modes = _required(info, "standardize_modes", width)
        count = info.integer("center_num")
        if count < 1:
            raise UnsupportedMojoError("k-means without cluster centres")
        self._centers = np.vstack([_required(info, f"center_{i}", width) for i in range(count)])

    def _standardized(self, rows: FloatArray) -> FloatArray:
        # Kmeans_preprocessData: a numeric column (mode -1) is imputed with its mean then scaled,
        # a categorical one is imputed with its mode.
        numeric = self._modes == -1
        missing = np.isnan(rows)
        out = np.where(missing, np.where(numeric, self._means, self._modes), rows)
        if self._mults is not None:
            out = np.where(numeric, (out - self._means) * self._mults, out)
        return out

    def score(self, rows: FloatArray) -> FloatArray:
        """KMeans_closest for every row: index of the first centre at the smallest distance."""
        with np.errstate(over="ignore"):  # a square beyond float64 is Java's Infinity too
            return self._closest(self._standardized(rows) if self._standardize else rows)

    def _closest(self, x: FloatArray) -> FloatArray:
        width = x.shape[1]
        squares = np.zeros((len(x), len(self._centers)))
        present = np.zeros(len(x), dtype=np.int64)
        for column in range(width):  # genmodel's summation order, column by column
            values = x[:, column : column + 1]
            valid = ~np.isnan(values)
            present += valid[:, 0]
            if self._categorical[column]:
                term = (values != self._centers[:, column]).astype(np.float64)
            else:
                delta = values - self._centers[:, column]
                term = delta * delta
            squares += np.where(valid, term, 0.0)
        # Distances over the present columns only, scaled up as if the missing ones were average.
        partial = (present > 0) & (present < width)
        scale = np.divide(width, present, out=np.ones(len(x)), where=partial)
        squares = squares * scale[:, None]
        # Strictly below Java's Double.MAX_VALUE, earliest centre first; -1 when none is.
        closer = np.where(np.isnan(squares), np.inf, squares)
        best = np.argmin(closer, axis=1)
        found = closer[np.arange(len(x)), best] < _JAVA_MAX_DOUBLE
        return np.where(found, best, -1).astype(np.float64)[:, None]

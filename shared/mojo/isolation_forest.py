"""Isolation Forest: H2O's compressed trees summed into a path length, normalised by model.ini."""

from __future__ import annotations

import numpy as np

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.kernel import score_forest
from shared.mojo.scorer import FloatArray, check_common, n_classes
from shared.mojo.tree_models import TREE_MOJO_VERSIONS, read_forest


class IsolationForestScorer:
    """hex.genmodel.algos.isofor.IsolationForestMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, TREE_MOJO_VERSIONS, categories=("AnomalyDetection",))
        if n_classes(info) != 1 or info.integer("n_trees_per_class") != 1:
            raise UnsupportedMojoError("isolation forest with more than one tree per iteration")
        # Each leaf holds its depth, so the leaf sum over all trees is the total path length;
        # min/max are such totals seen on the training rows (written as ints).
        self._groups = info.integer("n_trees")
        self._min = info.integer("min_path_length")
        self._max = info.integer("max_path_length")
        self._flag = info.flag("output_anomaly_flag")
        self._threshold = info.number("default_threshold")
        self._forest = read_forest(archive, info)
        self.output_names = (
            ["predict", "score", "mean_length"] if self._flag else ["predict", "mean_length"]
        )

    def score(self, rows: FloatArray) -> FloatArray:
        """IsolationForestMojoModel.score0 + unifyPreds: [flag,] normalised score, mean length."""
        total = np.zeros((len(rows), 1))
        score_forest(self._forest, rows, total, float32_sum=False)
        path = total[:, 0]
        mean_length = path / self._groups if self._groups >= 1 else np.zeros_like(path)
        if self._max > self._min:
            normalised = (self._max - path) / (self._max - self._min)
        else:
            normalised = np.ones_like(path)
        if not self._flag:
            return np.column_stack([normalised, mean_length])
        # genmodel's MOJO flags strictly above the threshold (H2O's in-cluster scoring uses >=).
        flag = (normalised > self._threshold).astype(np.float64)
        return np.column_stack([flag, normalised, mean_length])

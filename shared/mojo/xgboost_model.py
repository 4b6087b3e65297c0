"""H2O XGBoost: H2O's one-hot input, the booster (trees or linear), the Java predictor's maths."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shared.mojo import labels
from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.forest import Forest
from shared.mojo.kernel import score_forest
from shared.mojo.scorer import (
    FloatArray,
    check_common,
    n_classes,
    offset_values,
    prior_distribution,
)
from shared.mojo.xgboost_booster import read_booster
from shared.mojo.xgboost_linear import linear_margins

XGBOOST_MOJO_VERSIONS = ("1.10",)
_EXP_OBJECTIVES = ("count:poisson", "reg:gamma", "reg:tweedie")
_IDENTITY_OBJECTIVES = ("reg:squarederror", "reg:linear")
_OBJECTIVES = ("binary:logistic", "multi:softprob", *_EXP_OBJECTIVES, *_IDENTITY_OBJECTIVES)
F32 = np.float32


class XGBoostScorer:
    """hex.genmodel.algos.xgboost.XGBoostJavaMojoModel (gbtree, dart and gblinear boosters)."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, XGBOOST_MOJO_VERSIONS, offsets=True)
        if info.flag("has_offset") != (info.offset_column is not None):
            raise UnsupportedMojoError("XGBoost has_offset disagrees with offset_column")
        self._info = info
        self._cats = info.integer("cats")
        self._nums = info.integer("nums")
        self._offsets = [int(value) for value in info.numbers("cat_offsets")]
        self._all_levels = info.flag("use_all_factor_levels")
        self._sparse = info.flag("sparse")
        self._threshold = info.number("default_threshold")
        self._prior = prior_distribution(info)
        self._n_classes = n_classes(info)
        self._booster = read_booster(archive.read("boosterBytes"), self._offsets[-1] + self._nums)
        if info.offset_column is not None and self._booster.name != "gbtree":
            # Parity with an offset is proven for gbtree only.
            raise UnsupportedMojoError(
                f"an offset column with the XGBoost {self._booster.name} booster"
            )
        if self._booster.objective not in _OBJECTIVES:
            raise UnsupportedMojoError(f"XGBoost objective '{self._booster.objective}'")
        self._base = F32(self._margin_of_base_score())
        # xgboost <= 1.2 models add the base score after the trees, later ones start from it.
        version = (self._booster.major_version, self._booster.minor_version)
        self._base_first = version > (1, 2)

    def _margin_of_base_score(self) -> float:
        base = F32(self._booster.base_score)
        if self._booster.major_version < 1:
            return float(base)
        if self._booster.objective == "binary:logistic":
            return float(F32(-np.log(np.float64(F32(F32(1) / base) - F32(1)))))
        if self._booster.objective in _EXP_OBJECTIVES:
            return float(F32(np.log(np.float64(base))))
        return float(base)

    @property
    def forest(self) -> Forest:
        """The booster's trees over the one-hot input."""
        if self._booster.forest is None:
            raise UnsupportedMojoError(f"XGBoost booster '{self._booster.name}' has no trees")
        return self._booster.forest

    @property
    def base_margin(self) -> float:
        """The margin every row starts from (the booster's base score on the margin scale)."""
        return float(self._base)

    def one_hot(self, rows: FloatArray) -> FloatArray:
        """H2O's XGBoost input: per categorical its levels and a missing slot, then numerics."""
        n = len(rows)
        width = self._offsets[-1] + self._nums
        not_hot = np.nan if self._sparse else 0.0
        matrix = np.full((n, width), not_hot, dtype=np.float64)
        for c in range(self._cats):
            values = rows[:, c]
            missing = np.isnan(values)
            level = np.where(missing, 0, values).astype(np.int64)
            if self._all_levels:
                slot = level + self._offsets[c]
            else:
                slot = np.where(level == 0, -1, level - 1 + self._offsets[c])
            last = self._offsets[c + 1] - 1
            slot = np.where(missing | (slot >= self._offsets[c + 1]), last, slot)
            hot = slot >= 0
            matrix[np.flatnonzero(hot), slot[hot]] = 1.0
        numeric = rows[:, self._cats : self._cats + self._nums].astype(F32).astype(np.float64)
        if self._sparse:
            numeric[numeric == 0] = np.nan
        matrix[:, self._offsets[-1] :] = numeric
        return matrix

    def _margins(
        self, x: FloatArray, start: np.float32 | npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """The booster's float32 sums, started from `start` when the base comes first."""
        first = start if self._base_first else F32(0)
        if self._booster.linear is not None:
            return linear_margins(self._booster.linear, x, F32(first))  # no offset: a scalar
        shape = (len(x), self._booster.n_groups)
        margins = np.broadcast_to(np.asarray(first, dtype=np.float64), shape).copy()
        score_forest(self.forest, x, margins, float32_sum=True)
        return margins.astype(F32)

    def score(self, rows: FloatArray) -> FloatArray:
        """XGBoostJavaMojoModel.score0 for every row."""
        # With an offset the predictor starts from (float) offset instead of the base score.
        start: np.float32 | npt.NDArray[np.float32] = self._base
        if self._info.offset_column is not None:
            start = np.asarray(offset_values(rows, self._info), dtype=F32)[:, None]
        out = self._margins(self.one_hot(rows), start)
        if not self._base_first:
            out = out + start
        objective = self._booster.objective
        if objective == "binary:logistic":
            with np.errstate(over="ignore"):  # exp(large) = inf gives p1 = 0, as in Java
                p1 = F32(1) / (F32(1) + np.exp(-out[:, 0].astype(np.float64)).astype(F32))
            p0 = F32(1) - p1
            probabilities = np.column_stack([p0, p1]).astype(np.float64)
            label = labels.binomial_labels(probabilities[:, 1], self._threshold)
            return labels.classification_preds(probabilities, label)
        if objective == "multi:softprob":
            shifted = out - out.max(axis=1, keepdims=True)
            exp = np.exp(shifted.astype(np.float64)).astype(F32)
            total = exp.astype(np.float64).sum(axis=1, keepdims=True).astype(F32)
            probabilities = (exp / total).astype(np.float64)
            label = labels.multinomial_labels(probabilities, rows, self._prior)
            return labels.classification_preds(probabilities, label)
        if self._n_classes != 1:
            raise UnsupportedMojoError(
                f"objective '{objective}' on a {self._n_classes}-class model"
            )
        if objective in _EXP_OBJECTIVES:
            with np.errstate(over="ignore"):
                out = np.exp(out.astype(np.float64)).astype(F32)
        result: FloatArray = out.astype(np.float64)
        return result

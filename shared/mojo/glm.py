"""GLM: coefficients from `model.ini`, mean imputation, and genmodel's link inverses (numpy)."""

from __future__ import annotations

import numpy as np

from shared.mojo import labels
from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray, check_common, n_classes

GLM_MOJO_VERSIONS = ("1.00",)
_FAMILIES = ("gaussian", "binomial", "poisson", "gamma", "multinomial")


class GlmScorer:
    """hex.genmodel.algos.glm.GlmMojoModel and GlmMultinomialMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, GLM_MOJO_VERSIONS)
        self._family = info.text("family")
        if self._family not in _FAMILIES:
            raise UnsupportedMojoError(f"GLM family '{self._family}'")
        if not info.flag("mean_imputation"):
            raise UnsupportedMojoError("GLM missing_values_handling other than MeanImputation")
        self._cats = info.integer("cats")
        self._nums = info.integer("nums")
        self._offsets = np.asarray(info.numbers("cat_offsets"), dtype=np.int64)
        self._all_levels = info.flag("use_all_factor_levels")
        self._cat_modes = np.asarray(info.numbers("cat_modes"))
        self._num_means = np.asarray(info.numbers("num_means"))
        self._threshold = info.number("default_threshold")
        self._n_classes = n_classes(info)
        beta = np.asarray(info.numbers("beta"))
        if self._family == "multinomial":
            self._beta = beta.reshape(self._n_classes, -1)
        else:
            self._beta = beta.reshape(1, -1)
            self._link = labels.link_inverse(
                info.text("link"), ("identity", "logit", "log", "inverse")
            )
        # cat_offsets already leave out level 0 when use_all_factor_levels is false.
        expected = int(self._offsets[-1]) + self._nums + 1
        if self._beta.shape[1] != expected:
            raise UnsupportedMojoError(
                f"GLM with {self._beta.shape[1]} coefficients per class, expected {expected}"
            )

    def _impute(self, rows: FloatArray) -> FloatArray:
        filled = rows[:, : self._cats + self._nums].copy()
        fill = np.concatenate([self._cat_modes, self._num_means])
        missing = np.isnan(filled)
        filled[missing] = np.broadcast_to(fill, filled.shape)[missing]
        return filled

    def linear_predictors(self, rows: FloatArray) -> FloatArray:
        """eta = beta . x + intercept per class, with categoricals as coefficient lookups."""
        data = self._impute(rows)
        eta = np.zeros((len(rows), self._beta.shape[0]))
        for c in range(self._cats):
            level = data[:, c].astype(np.int64)
            index = level + self._offsets[c] - (0 if self._all_levels else 1)
            # Level 0 has no coefficient without all factor levels; unknown levels add nothing.
            valid = (index >= self._offsets[c]) & (index < self._offsets[c + 1])
            if not self._all_levels:
                valid &= level != 0
            safe = np.where(valid, index, 0)
            eta += np.where(valid[:, None], self._beta[:, safe].T, 0.0)
        numeric_start = int(self._offsets[-1])
        numeric_beta = self._beta[:, numeric_start : numeric_start + self._nums]
        for i in range(self._nums):  # genmodel's summation order, so results agree to the bit
            eta += data[:, self._cats + i, None] * numeric_beta[:, i]
        eta += self._beta[:, -1]
        return eta

    def score(self, rows: FloatArray) -> FloatArray:
        """glmScore0 for every row."""
        eta = self.linear_predictors(rows)
        if self._family == "multinomial":
            exp = np.exp(eta - np.maximum(eta.max(axis=1, keepdims=True), 0.0))
            probabilities = exp * (1.0 / exp.sum(axis=1, keepdims=True))
            # GlmMultinomialMojoModel picks the first strictly largest probability: no hashing.
            label = np.argmax(probabilities, axis=1).astype(np.float64)
            return labels.classification_preds(probabilities, label)
        mu = self._link(eta[:, 0])
        if self._family == "binomial":
            probabilities = np.column_stack([1.0 - mu, mu])
            return labels.classification_preds(
                probabilities, labels.binomial_labels(mu, self._threshold)
            )
        result: FloatArray = mu[:, None]
        return result

"""GLM: coefficients from `model.ini`, missing values, offsets and genmodel's link inverses."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from shared.mojo import labels
from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import MojoInputError, UnsupportedMojoError
from shared.mojo.scorer import (
    SUPPORTED_CATEGORIES,
    FloatArray,
    check_common,
    n_classes,
    offset_values,
)

GLM_MOJO_VERSIONS = ("1.00",)
# The links H2O 3.46 trains each family with (GLMParameters.validate, GLM.init).
FAMILY_LINKS = {
    "gaussian": ("identity", "log", "inverse"),
    "binomial": ("logit",),
    "quasibinomial": ("logit",),
    "fractionalbinomial": ("logit",),
    "poisson": ("log", "identity"),
    "negativebinomial": ("log", "identity"),
    "gamma": ("inverse", "log", "identity"),
    "tweedie": ("tweedie",),
    "multinomial": ("multinomial",),
    "ordinal": ("ologit",),
}
_DETAILS = "experimental/modelDetails.json"
# GlmMojoModel labels these with the threshold and writes P(class 0), P(class 1).
_BINOMIAL_FAMILIES = ("binomial", "quasibinomial", "fractionalbinomial")


class GlmScorer:
    """hex.genmodel.algos.glm: GlmMojoModel, GlmMultinomialMojoModel and GlmOrdinalMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, GLM_MOJO_VERSIONS, (*SUPPORTED_CATEGORIES, "Ordinal"), offsets=True)
        self._info = info
        self._family = info.text("family")
        if self._family not in FAMILY_LINKS:
            raise UnsupportedMojoError(f"GLM family '{self._family}'")
        link = info.text("link")
        if link not in FAMILY_LINKS[self._family]:
            raise UnsupportedMojoError(f"GLM family '{self._family}' with link '{link}'")
        if self._family == "ordinal" and info.offset_column is not None:
            raise UnsupportedMojoError("an offset column on an ordinal GLM (H2O cannot train one)")
        self._cats = info.integer("cats")
        self._nums = info.integer("nums")
        if _has_interactions(archive, info) or self._cats + self._nums != info.n_features:
            # H2O 3.46 exports no GLM with interactions. One would list the interaction columns
            # (e.g. "AGE_PSA") among its inputs, which no input row holds: never score it.
            raise UnsupportedMojoError("GLM with interaction columns")
        self._cat_offsets = np.asarray(info.numbers("cat_offsets"), dtype=np.int64)
        self._all_levels = info.flag("use_all_factor_levels")
        # MeanImputation and PlugValues write the fill values; Skip writes mean_imputation=false.
        self._impute = info.flag("mean_imputation")
        if self._impute:
            self._fill = np.concatenate([info.numbers("cat_modes"), info.numbers("num_means")])
        self._threshold = info.number("default_threshold")
        self._n_classes = n_classes(info)
        beta = np.asarray(info.numbers("beta"))
        per_class = self._family in ("multinomial", "ordinal")
        self._beta = beta.reshape(self._n_classes if per_class else 1, -1)
        if not per_class:
            self._link = _link_inverse(link, info)
        # cat_offsets already leave out level 0 when use_all_factor_levels is false.
        expected = int(self._cat_offsets[-1]) + self._nums + 1
        if self._beta.shape[1] != expected:
            raise UnsupportedMojoError(
                f"GLM with {self._beta.shape[1]} coefficients per class, expected {expected}"
            )

    def _data(self, rows: FloatArray) -> FloatArray:
        data = rows[:, : self._cats + self._nums]
        missing = np.isnan(data)
        if self._impute:
            filled = data.copy()
            filled[missing] = np.broadcast_to(self._fill, filled.shape)[missing]
            return filled
        cat_missing = missing[:, : self._cats]
        if cat_missing.any():
            # Without imputation genmodel's (int) NaN fails its range check on a categorical:
            # PredictCsv stops on the row. Missing numerics just make the prediction NaN.
            row, column = np.argwhere(cat_missing)[0]
            raise MojoInputError(
                f"column '{self._info.feature_names[column]}' is missing or an unseen level in "
                f"row {row}: a GLM trained with missing_values_handling=Skip cannot score it"
            )
        return data

    def linear_predictors(self, rows: FloatArray) -> FloatArray:
        """eta = beta . x + intercept per class, with categoricals as coefficient lookups."""
        data = self._data(rows)
        eta = np.zeros((len(rows), self._beta.shape[0]))
        for c in range(self._cats):
            level = data[:, c].astype(np.int64)
            index = level + self._cat_offsets[c] - (0 if self._all_levels else 1)
            # Level 0 has no coefficient without all factor levels; unknown levels add nothing.
            valid = (index >= self._cat_offsets[c]) & (index < self._cat_offsets[c + 1])
            if not self._all_levels:
                valid &= level != 0
            safe = np.where(valid, index, 0)
            eta += np.where(valid[:, None], self._beta[:, safe].T, 0.0)
        numeric_start = int(self._cat_offsets[-1])
        numeric_beta = self._beta[:, numeric_start : numeric_start + self._nums]
        for i in range(self._nums):  # genmodel's summation order, so results agree to the bit
            eta += data[:, self._cats + i, None] * numeric_beta[:, i]
        eta += self._beta[:, -1]
        return eta

    def score(self, rows: FloatArray) -> FloatArray:
        """glmScore0 for every row."""
        eta = self.linear_predictors(rows)
        if self._family == "multinomial":
            return _multinomial(eta)
        if self._family == "ordinal":
            return _ordinal(eta[:, :-1])
        with np.errstate(over="ignore"):  # exp overflows to inf, as Java's Math.exp does
            mu = self._link(eta[:, 0] + offset_values(rows, self._info))
        if self._family in _BINOMIAL_FAMILIES:
            probabilities = np.column_stack([1.0 - mu, mu])
            return labels.classification_preds(
                probabilities, labels.binomial_labels(mu, self._threshold)
            )
        result: FloatArray = mu[:, None]
        return result


def _has_interactions(archive: MojoArchive, info: MojoInfo) -> bool:
    if any("interaction" in key for key in info.info):
        return True
    if not archive.exists(_DETAILS):
        return False
    parameters = json.loads(archive.read(_DETAILS)).get("parameters", [])
    return any(
        parameter.get("name") in ("interactions", "interaction_pairs")
        and parameter.get("actual_value")
        for parameter in parameters
    )


def _link_inverse(link: str, info: MojoInfo) -> Callable[[FloatArray], FloatArray]:
    if link != "tweedie":
        return labels.link_inverse(link, tuple(labels.LINK_INVERSES))
    power = info.number("tweedie_link_power")
    if power == 0:
        return lambda eta: np.maximum(2e-16, np.exp(eta))

    def powered(eta: FloatArray) -> FloatArray:
        # Java's Math.pow: NaN for a negative base and a non-integer power.
        with np.errstate(invalid="ignore"):
            result: FloatArray = np.power(eta, 1.0 / power)
        return result

    return powered


def _multinomial(eta: FloatArray) -> FloatArray:
    # genmodel shifts by max(0, largest eta) and multiplies by the reciprocal of the sum.
    exp = np.exp(eta - np.maximum(eta.max(axis=1, keepdims=True), 0.0))
    probabilities = exp * (1.0 / exp.sum(axis=1, keepdims=True))
    # GlmMultinomialMojoModel picks the first strictly largest probability: no hashing.
    label = np.argmax(probabilities, axis=1).astype(np.float64)
    return labels.classification_preds(probabilities, label)


def _ordinal(eta: FloatArray) -> FloatArray:
    # Class c's cumulative probability is logistic(eta_c); the last class takes the rest.
    with np.errstate(over="ignore"):  # exp overflows to inf, giving 0 as in Java
        cumulative = 1.0 / (1.0 + np.exp(-eta))
    previous = np.column_stack([np.zeros(len(eta)), cumulative])
    probabilities = np.column_stack([cumulative, np.ones(len(eta))]) - previous
    best = np.argmax(probabilities, axis=1)
    # genmodel takes the first class whose probability beats 0 (its preds[0]) and fails if none.
    failed = np.flatnonzero(~(probabilities[np.arange(len(best)), best] > 0))
    if failed.size:
        raise MojoInputError(f"row {int(failed[0])}: no class has a probability above 0")
    return labels.classification_preds(probabilities, best.astype(np.float64))

"""GBM and DRF: decoded H2O trees plus each algorithm's `unifyPreds` post-processing."""

from __future__ import annotations

import numpy as np

from shared.mojo import labels
from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.categorical_encoding import TREE_ENCODINGS
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.forest import Forest, ForestBuilder
from shared.mojo.h2o_trees import decode_tree
from shared.mojo.kernel import score_forest
from shared.mojo.scorer import (
    FloatArray,
    check_common,
    n_classes,
    offset_values,
    prior_distribution,
)

TREE_MOJO_VERSIONS = ("1.40",)
GBM_DISTRIBUTIONS = (
    "bernoulli",
    "quasibinomial",
    "multinomial",
    "gaussian",
    "poisson",
    "gamma",
    "tweedie",
    "laplace",
    "quantile",
    "huber",
)


def read_forest(archive: MojoArchive, info: MojoInfo) -> Forest:
    """Decode every `trees/tCC_NNN.bin`; class c adds into preds column c+1 (0 for regression)."""
    sizes = [-1 if domain is None else len(domain) for domain in info.feature_domains]
    return decode_trees(archive, info).build(sizes)


def decode_trees(archive: MojoArchive, info: MojoInfo) -> ForestBuilder:
    """The trees of `read_forest`, as decoded (before their layout for scoring)."""
    groups = info.integer("n_trees")
    per_group = info.integer("n_trees_per_class")
    builder = ForestBuilder()
    regression = n_classes(info) == 1
    for class_index in range(per_group):
        for group in range(groups):
            name = f"trees/t{class_index:02d}_{group:03d}.bin"
            if archive.exists(name):  # genmodel skips trees that were never built
                root = decode_tree(builder, archive.read(name))
                builder.add_tree(root, 0 if regression else class_index + 1)
    return builder


class GbmScorer:
    """hex.genmodel.algos.gbm.GbmMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, TREE_MOJO_VERSIONS, encodings=tuple(TREE_ENCODINGS), offsets=True)
        self._info = info
        self._distribution = info.text("distribution")
        if self._distribution not in GBM_DISTRIBUTIONS:
            raise UnsupportedMojoError(f"GBM distribution '{self._distribution}'")
        link = info.info.get("link_function", "identity")
        labels.link_inverse(link, ("identity", "logit", "log"))
        # GbmMojoModel's own exp caps at 1e19 (LogExpUtils); GLM's does not.
        self._link = _capped_exp if link == "log" else labels.LINK_INVERSES[link]
        self._init_f = info.number("init_f")
        self._threshold = info.number("default_threshold")
        self._prior = prior_distribution(info)
        self._n_classes = n_classes(info)
        self._forest = read_forest(archive, info)

    def score(self, rows: FloatArray) -> FloatArray:
        """GbmMojoModel.score0 + unifyPreds for every row."""
        width = 1 if self._n_classes == 1 else self._n_classes + 1
        preds = np.zeros((len(rows), width))
        score_forest(self._forest, rows, preds, float32_sum=False)
        # genmodel adds the offset after init_f, right before the inverse link.
        offset = offset_values(rows, self._info)
        if self._distribution in ("bernoulli", "quasibinomial"):
            p1 = self._link(preds[:, 1] + self._init_f + offset)
            probabilities = np.column_stack([1.0 - p1, p1])
        elif self._distribution == "multinomial":
            margins = preds[:, 1:]
            if self._n_classes == 2:  # one tree per iteration; class 1 mirrors class 0
                first = margins[:, 0] + self._init_f + offset
                margins = np.column_stack([first, -first])
            exp = np.exp(margins - margins.max(axis=1, keepdims=True))
            probabilities = exp / exp.sum(axis=1, keepdims=True)
        else:
            result: FloatArray = self._link(preds[:, 0] + self._init_f + offset)[:, None]
            return result
        return _classify(probabilities, rows, self._threshold, self._prior)


class DrfScorer:
    """hex.genmodel.algos.drf.DrfMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, TREE_MOJO_VERSIONS, encodings=tuple(TREE_ENCODINGS))
        self._n_classes = n_classes(info)
        self._groups = info.integer("n_trees")
        self._double_trees = info.flag("binomial_double_trees")
        self._threshold = info.number("default_threshold")
        self._prior = prior_distribution(info)
        self._forest = read_forest(archive, info)

    def score(self, rows: FloatArray) -> FloatArray:
        """DrfMojoModel.score0 + unifyPreds for every row."""
        width = 1 if self._n_classes == 1 else self._n_classes + 1
        preds = np.zeros((len(rows), width))
        score_forest(self._forest, rows, preds, float32_sum=False)
        if self._n_classes == 1:
            averaged: FloatArray = preds / self._groups
            return averaged
        if self._n_classes == 2 and not self._double_trees:
            # Binomial DRF trees vote for class 0.
            p0 = preds[:, 1] / self._groups
            probabilities = np.column_stack([p0, 1.0 - p0])
        else:
            votes = preds[:, 1:]
            sums = votes.sum(axis=1, keepdims=True)
            probabilities = np.divide(votes, sums, out=votes.copy(), where=sums > 0)
        return _classify(probabilities, rows, self._threshold, self._prior)


def _capped_exp(f: FloatArray) -> FloatArray:
    with np.errstate(over="ignore"):
        result: FloatArray = np.minimum(1e19, np.exp(f))
    return result


def _classify(
    probabilities: FloatArray, rows: FloatArray, threshold: float, prior: list[float] | None
) -> FloatArray:
    if probabilities.shape[1] == 2:
        label = labels.binomial_labels(probabilities[:, 1], threshold)
    else:
        label = labels.multinomial_labels(probabilities, rows, prior)
    return labels.classification_preds(probabilities, label)

"""The interface every algorithm implements: a matrix of encoded rows in, genmodel's `preds` out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from shared.mojo.archive import MojoInfo
from shared.mojo.errors import UnsupportedMojoError

FloatArray = npt.NDArray[np.float64]

SUPPORTED_CATEGORIES = ("Binomial", "Multinomial", "Regression")


class Scorer(Protocol):
    """Scores rows encoded in the model's column order (categoricals as level indices, NaN missing).

    Returns one row per input row laid out like genmodel's `preds`: for a classifier the label index
    then one probability per class, for a regression the single predicted value.
    """

    def score(self, rows: FloatArray) -> FloatArray:
        """genmodel's `score0` for every row at once."""
        ...


@runtime_checkable
class NamedOutputs(Protocol):
    """A scorer whose `preds` columns carry their own PredictCsv names (unsupervised models)."""

    output_names: list[str]


def check_common(
    info: MojoInfo,
    mojo_versions: tuple[str, ...],
    categories: tuple[str, ...] = SUPPORTED_CATEGORIES,
    encodings: tuple[str, ...] = ("AUTO", "Enum"),
    offsets: bool = False,
) -> None:
    """Refuse what the algorithm does not honour: unknown versions, categories, offsets, weights.

    `encodings`: the `_genmodel_encoding` values the algorithm's inputs are read with; `offsets`:
    whether it adds an offset column as genmodel does.
    """
    version = info.text("mojo_version")
    if version not in mojo_versions:
        raise UnsupportedMojoError(
            f"{info.algo} mojo_version {version} (supported: {', '.join(mojo_versions)})"
        )
    if info.category not in categories:
        raise UnsupportedMojoError(f"model category '{info.category}'")
    if info.flag("balance_classes"):
        raise UnsupportedMojoError("balance_classes=true (probability re-weighting)")
    if info.offset_column is not None or info.flag("has_offset"):
        if not offsets:
            raise UnsupportedMojoError(f"an offset column on a {info.algo} model")
        if info.category == "Multinomial":
            # PredictCsv's predictMultinomial passes no offset: it would score as if it were 0.
            raise UnsupportedMojoError("an offset column on a multinomial model")
    if any(key.startswith("calib") for key in info.info):
        raise UnsupportedMojoError("probability calibration (calibrate_model=true)")
    encoding = info.info.get("_genmodel_encoding", "AUTO")
    if encoding not in encodings:
        raise UnsupportedMojoError(f"categorical_encoding '{encoding}'")


def offset_values(rows: FloatArray, info: MojoInfo) -> FloatArray | float:
    """Each row's offset (the encoder's extra last column), or 0.0 for a model without one."""
    if info.offset_column is None:
        return 0.0
    values: FloatArray = rows[:, info.n_features]
    return values


def n_classes(info: MojoInfo) -> int:
    """Number of classes (1 for regression)."""
    return info.integer("n_classes")


def prior_distribution(info: MojoInfo) -> list[float] | None:
    """The training class distribution genmodel uses to break ties (None when not written)."""
    prior = info.optional_numbers("prior_class_distrib")
    return None if prior is None else prior.tolist()

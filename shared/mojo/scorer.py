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
) -> None:
    """Refuse what no algorithm here honours: unknown versions, categories, offsets, weights."""
    version = info.text("mojo_version")
    if version not in mojo_versions:
        raise UnsupportedMojoError(
            f"{info.algo} mojo_version {version} (supported: {', '.join(mojo_versions)})"
        )
    if info.category not in categories:
        raise UnsupportedMojoError(f"model category '{info.category}'")
    if info.flag("balance_classes"):
        raise UnsupportedMojoError("balance_classes=true (probability re-weighting)")
    if info.info.get("offset_column", "null") != "null" or info.flag("has_offset"):
        raise UnsupportedMojoError("an offset column")
    if any(key.startswith("calib") for key in info.info):
        raise UnsupportedMojoError("probability calibration (calibrate_model=true)")
    encoding = info.info.get("_genmodel_encoding", "AUTO")
    if encoding not in ("AUTO", "Enum"):
        raise UnsupportedMojoError(f"categorical_encoding '{encoding}'")


def n_classes(info: MojoInfo) -> int:
    """Number of classes (1 for regression)."""
    return info.integer("n_classes")


def prior_distribution(info: MojoInfo) -> list[float] | None:
    """The training class distribution genmodel uses to break ties (None when not written)."""
    if info.info.get("prior_class_distrib", "null") == "null":
        return None
    return info.numbers("prior_class_distrib")

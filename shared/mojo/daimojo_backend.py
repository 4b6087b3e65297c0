"""Driverless AI `pipeline.mojo` files, scored by the optional `daimojo` package behind `predict`.

daimojo is not a dependency (`pip install 'converge[daimojo]'`): it is 876 MB, needs a Driverless AI
licence with evaluation-only terms, and refuses H2O-3 MOJOs. This adapter only exists so that a
pipeline.mojo fails with a message naming what is missing, or scores through the same interface.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.metadata import ModelMetadata

if TYPE_CHECKING:
    import pandas as pd

LICENCE_VARIABLES = ("DRIVERLESS_AI_LICENSE_KEY", "DRIVERLESS_AI_LICENSE_FILE")


class DaimojoUnavailableError(UnsupportedMojoError):
    """A Driverless AI pipeline cannot be scored here: daimojo or its licence is missing."""


@dataclass(frozen=True)
class DaimojoModel(ModelMetadata):
    """A Driverless AI pipeline with the same metadata and `predict` as `MojoModel`."""

    pipeline: Any

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score `frame` with daimojo (its own output columns, one per target class)."""
        datatable = importlib.import_module("datatable")
        missing = [name for name in self.columns if name not in frame.columns]
        if missing:
            raise ValueError(f"the pipeline needs columns the frame lacks: {', '.join(missing)}")
        table = datatable.Frame(frame[self.columns])
        result: pd.DataFrame = self.pipeline.predict(table).to_pandas()
        result.index = frame.index
        return result


def load_pipeline(path: Path) -> DaimojoModel:
    """Open a Driverless AI pipeline.mojo through daimojo, naming what is missing if it cannot."""
    try:
        daimojo = importlib.import_module("daimojo")
    except ImportError as error:
        raise DaimojoUnavailableError(
            f"{path} is a Driverless AI pipeline; scoring it needs the optional daimojo package, "
            "which is not installed (pip install 'converge[daimojo]')"
        ) from error
    try:
        pipeline = daimojo.model(str(path))
    except Exception as error:
        # daimojo reports a missing licence only in its message ("License could not be found!").
        if "licen" not in str(error).lower():
            raise
        raise DaimojoUnavailableError(
            f"{path} is a Driverless AI pipeline; daimojo is installed but found no Driverless AI "
            f"licence (set {' or '.join(LICENCE_VARIABLES)}): {error}"
        ) from error
    return DaimojoModel(
        algo="driverless_ai",
        category="Regression" if len(pipeline.output_names) == 1 else "Classification",
        columns=list(pipeline.feature_names),
        domains={},
        response_column=None,
        h2o_version=str(getattr(pipeline, "dai_version", "unknown")),
        mojo_version=str(getattr(pipeline, "mojo_version", "unknown")),
        pipeline=pipeline,
    )

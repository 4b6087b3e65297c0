"""`MojoModel`: one loaded model, its metadata, and `predict` with PredictCsv's output columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.mojo.archive import MojoInfo
from shared.mojo.encoding import RowEncoder
from shared.mojo.scorer import Scorer


@dataclass(frozen=True)
class MojoModel:
    """An H2O-3 MOJO scored without a JVM; immutable after load, so threads may share it."""

    algo: str
    category: str
    columns: list[str]
    domains: dict[str, list[str]]
    response_column: str | None
    h2o_version: str
    mojo_version: str
    output_columns: list[str]
    classes: list[str] | None
    scorer: Scorer
    encoder: RowEncoder
    label_dtype: pd.CategoricalDtype | None

    @classmethod
    def from_info(cls, info: MojoInfo, scorer: Scorer) -> MojoModel:
        """Build the model object from a parsed `model.ini` and the algorithm's scorer."""
        classes = info.response_domain if info.category != "Regression" else None
        return cls(
            algo=info.algo,
            category=info.category,
            columns=info.feature_names,
            domains={
                name: domain
                for name, domain in zip(info.feature_names, info.feature_domains, strict=True)
                if domain is not None
            },
            response_column=info.columns[info.n_features]
            if len(info.columns) > info.n_features
            else None,
            h2o_version=info.text("h2o_version"),
            mojo_version=info.text("mojo_version"),
            output_columns=output_columns(classes),
            classes=classes,
            scorer=scorer,
            encoder=RowEncoder.for_columns(info.feature_names, info.feature_domains),
            label_dtype=None if classes is None else pd.CategoricalDtype(classes, ordered=False),
        )

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score every row of `frame` (columns by name, extra columns ignored)."""
        preds = self.scorer.score(self.encoder.encode(frame))
        if self.classes is None:
            return pd.DataFrame({"predict": preds[:, 0]}, index=frame.index, copy=False)
        # A categorical over the class labels: no per-call string conversion of the labels.
        labels = pd.Categorical.from_codes(preds[:, 0].astype(np.int64), dtype=self.label_dtype)
        columns: dict[str, object] = {"predict": labels}
        for position, name in enumerate(self.output_columns[1:], start=1):
            columns[name] = preds[:, position]
        return pd.DataFrame(columns, index=frame.index, copy=False)


def output_columns(classes: list[str] | None) -> list[str]:
    """genmodel's `getOutputNames`: class labels that read as Java ints get a `p` prefix."""
    if classes is None:
        return ["predict"]
    return ["predict", *(f"p{label}" if _is_java_int(label) else label for label in classes)]


def _is_java_int(text: str) -> bool:
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit() and -(2**31) <= int(text) < 2**31

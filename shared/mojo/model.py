"""`MojoModel`: one loaded model, its metadata, and `predict` with PredictCsv's output columns.

pandas is imported only by `predict`: `predict_rows` (serving's path) runs without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from shared.mojo.archive import MojoInfo
from shared.mojo.encoding import RowEncoder
from shared.mojo.metadata import ModelMetadata
from shared.mojo.scorer import FloatArray, NamedOutputs, Scorer
from shared.mojo.threads import available_cores, score_split

if TYPE_CHECKING:
    import pandas as pd

RowPrediction = dict[str, float | str]
# Categories without class labels: every output column is a number.
_NUMERIC_CATEGORIES = ("Regression", "AnomalyDetection", "Clustering")


@dataclass(frozen=True)
class MojoModel(ModelMetadata):
    """An H2O-3 MOJO scored without a JVM; immutable after load, so threads may share it."""

    output_columns: list[str]
    classes: list[str] | None
    scorer: Scorer
    encoder: RowEncoder
    # Read from every input row like a feature, but added to the linear predictor / margin.
    offset_column: str | None = None
    # P(class 1) >= this labels class 1 (binomial models only; see shared/mojo/threshold.py).
    label_threshold: float | None = None

    @classmethod
    def from_info(
        cls,
        info: MojoInfo,
        scorer: Scorer,
        encoder: RowEncoder | None = None,
        label_threshold: float | None = None,
    ) -> MojoModel:
        """Build the model object from a parsed `model.ini` and the algorithm's scorer.

        `encoder` reads inputs when they are not simply the columns and levels of `info`.
        """
        classes = info.response_domain if info.category not in _NUMERIC_CATEGORIES else None
        return cls(
            algo=info.algo,
            category=info.category,
            columns=info.feature_names,
            domains={
                name: domain
                for name, domain in zip(info.feature_names, info.feature_domains, strict=True)
                if domain is not None
            },
            response_column=info.columns[-1] if len(info.columns) > info.n_features else None,
            h2o_version=info.text("h2o_version"),
            mojo_version=info.text("mojo_version"),
            output_columns=list(scorer.output_names)
            if isinstance(scorer, NamedOutputs)
            else output_columns(classes),
            classes=classes,
            scorer=scorer,
            encoder=encoder
            or RowEncoder.for_columns(
                info.feature_names, info.feature_domains, offset=info.offset_column
            ),
            offset_column=info.offset_column,
            label_threshold=label_threshold,
        )

    def predict(self, frame: pd.DataFrame, threads: int | None = None) -> pd.DataFrame:
        """Score every row of `frame` (columns by name, extra columns ignored).

        A large frame is split across `threads` threads (default: every core this process has).
        """
        import pandas as pd

        preds = score_split(self._score_frame, frame, threads or available_cores())
        if self.classes is None:
            numbers = {name: preds[:, i] for i, name in enumerate(self.output_columns)}
            return pd.DataFrame(numbers, index=frame.index, copy=False)
        # A categorical over the class labels: no per-call string conversion of the labels.
        labels = pd.Categorical.from_codes(preds[:, 0].astype(np.int64), dtype=self._label_dtype)
        columns: dict[str, object] = {"predict": labels}
        for position, name in enumerate(self.output_columns[1:], start=1):
            columns[name] = preds[:, position]
        return pd.DataFrame(columns, index=frame.index, copy=False)

    @cached_property
    def _label_dtype(self) -> pd.CategoricalDtype:
        # Built once: validating the labels costs 0.1-0.5 ms, on the calling thread after the
        # scoring threads are done.
        import pandas as pd

        return pd.CategoricalDtype(self.classes, ordered=False)

    def _score_frame(self, frame: pd.DataFrame) -> FloatArray:
        return self.scorer.score(self.encoder.encode(frame))

    def score_rows(self, rows: Sequence[Mapping[str, object]]) -> FloatArray:
        """genmodel's `preds` for rows given as mappings: label index, then class probabilities."""
        return self.scorer.score(self.encoder.encode_rows(rows))

    def score_columns(
        self, columns: Mapping[str, Sequence[object] | FloatArray], count: int
    ) -> FloatArray:
        """`score_rows` for `count` rows given column by column (an absent column: missing)."""
        return self.scorer.score(self.encoder.encode_columns(columns, count))

    def predict_rows(self, rows: Sequence[Mapping[str, object]]) -> list[RowPrediction]:
        """`predict` without pandas, for a few rows: one dict of PredictCsv's columns per row."""
        return self.prediction_rows(self.score_rows(rows))

    def prediction_rows(self, preds: FloatArray) -> list[RowPrediction]:
        """genmodel's `preds` as PredictCsv's rows: one dict per row, class labels by name."""
        columns: list[list[float | str]] = preds.T.tolist()
        if self.classes is not None:
            columns[0] = list(map(self.classes.__getitem__, preds[:, 0].astype(np.intp).tolist()))
        # map/zip instead of a comprehension: a third of the time on 10,000 rows.
        return list(map(dict, map(zip, repeat(self.output_columns), zip(*columns, strict=True))))


def output_columns(classes: list[str] | None) -> list[str]:
    """genmodel's `getOutputNames`: class labels that read as Java ints get a `p` prefix."""
    if classes is None:
        return ["predict"]
    return ["predict", *(f"p{label}" if _is_java_int(label) else label for label in classes)]


def _is_java_int(text: str) -> bool:
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit() and -(2**31) <= int(text) < 2**31

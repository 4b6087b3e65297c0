"""Score a stored MOJO on the current validation split with the JVM-free runtime, as serving would.

The champion compares challenger and incumbent with these numbers: the same rows, the same
runtime, the same metric code, whatever frame each model was validated on when it was trained.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from assets.training_frame import LABEL, SPLIT, feature_columns
from shared.artifacts import ArtifactStore
from shared.mojo import load_mojo
from shared.mojo.model import MojoModel

# H2O clips probabilities the same way before taking the log.
_LOGLOSS_EPSILON = 1e-15


class HoldoutError(RuntimeError):
    """A model cannot be scored on the validation split; the message names the model and why."""


@dataclass(frozen=True)
class Holdout:
    """The validation split: model inputs and labels (as the text H2O read them as levels)."""

    features: pd.DataFrame
    labels: pd.Series

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Holdout:
        """The 'valid' rows of a training frame."""
        valid = frame.loc[frame[SPLIT] == "valid"].reset_index(drop=True)
        # The label is uploaded as CSV text and parsed as a factor: its levels are that text.
        return cls(valid[feature_columns(frame)], valid[LABEL].astype(str))


def auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """The exact ROC AUC (Mann-Whitney, ties counted half); NaN without both classes."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metrics_of(model: MojoModel, holdout: Holdout) -> dict[str, float]:
    """auc and logloss (binomial), logloss (multinomial), rmse and mae (regression)."""
    preds = model.predict(holdout.features)
    if model.classes is None:
        error = preds["predict"].to_numpy(dtype=float) - holdout.labels.astype(float).to_numpy()
        return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}
    unknown = sorted(set(holdout.labels) - set(model.classes))
    if unknown:
        raise HoldoutError(f"labels {unknown} are not classes of the model {model.classes}")
    index = holdout.labels.map({label: i for i, label in enumerate(model.classes)}).to_numpy()
    probabilities = preds.iloc[:, 1:].to_numpy(dtype=float)
    p_true = np.clip(probabilities[np.arange(len(index)), index], _LOGLOSS_EPSILON, 1.0)
    metrics = {"logloss": float(-np.mean(np.log(p_true)))}
    if len(model.classes) == 2:
        metrics["auc"] = auc(index == 1, probabilities[:, 1])
    return {name: value for name, value in metrics.items() if np.isfinite(value)}


def rescore(store: ArtifactStore, uri: str, sha256: str, holdout: Holdout) -> dict[str, float]:
    """Fetch a stored MOJO (verified by sha256), load it in the runtime, score the holdout."""
    with tempfile.TemporaryDirectory(prefix="converge-holdout-") as folder:
        path = store.fetch_verified(uri, sha256, Path(folder))
        model = load_mojo(path)
        if not isinstance(model, MojoModel):
            raise HoldoutError(f"{uri} is not an H2O-3 MOJO")
        try:
            return metrics_of(model, holdout)
        except HoldoutError as exc:
            raise HoldoutError(f"{uri}: {exc}") from exc

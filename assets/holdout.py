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


def roc_points(positive: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """The ROC curve: (threshold, fpr, tpr) at each distinct score, highest threshold first.

    A row predicts positive every score >= its threshold; the last row (the lowest score) is
    (1, 1). Its trapezoids from (0, 0) add up to `auc` exactly (ties make diagonal steps).
    """
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise HoldoutError(
            f"no ROC curve without both classes ({n_pos} positive, {n_neg} negative)"
        )
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], positive[order]
    # The last position of each run of equal scores: the curve moves once per distinct threshold.
    ends = np.append(np.flatnonzero(np.diff(ranked)), len(ranked) - 1)
    return pd.DataFrame(
        {
            "threshold": ranked[ends],
            "fpr": np.cumsum(~hits)[ends] / n_neg,
            "tpr": np.cumsum(hits)[ends] / n_pos,
        }
    )


def thin(curve: pd.DataFrame, points: int) -> pd.DataFrame:
    """At most `points` rows spread evenly along the curve, its first and last kept."""
    if len(curve) <= points:
        return curve.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(curve) - 1, points).round().astype(int))
    return curve.iloc[keep].reset_index(drop=True)


def _class_index(holdout: Holdout, classes: list[str]) -> np.ndarray:
    unknown = sorted(set(holdout.labels) - set(classes))
    if unknown:
        raise HoldoutError(f"labels {unknown} are not classes of the model {classes}")
    return holdout.labels.map({label: i for i, label in enumerate(classes)}).to_numpy()


@dataclass(frozen=True)
class HoldoutScores:
    """A model's metrics on the holdout and, for a binomial model, its ROC curve."""

    metrics: dict[str, float]
    roc: pd.DataFrame | None


def scores_of(model: MojoModel, holdout: Holdout) -> HoldoutScores:
    """auc and logloss (binomial, with the ROC curve of the second class), logloss (multinomial),
    rmse and mae (regression), from one scoring pass."""
    preds = model.predict(holdout.features)
    if model.classes is None:
        error = preds["predict"].to_numpy(dtype=float) - holdout.labels.astype(float).to_numpy()
        regression = {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
        }
        return HoldoutScores(regression, None)
    index = _class_index(holdout, model.classes)
    probabilities = preds.iloc[:, 1:].to_numpy(dtype=float)
    p_true = np.clip(probabilities[np.arange(len(index)), index], _LOGLOSS_EPSILON, 1.0)
    metrics = {"logloss": float(-np.mean(np.log(p_true)))}
    roc = None
    if len(model.classes) == 2:
        metrics["auc"] = auc(index == 1, probabilities[:, 1])
        roc = roc_points(index == 1, probabilities[:, 1])
    return HoldoutScores({k: v for k, v in metrics.items() if np.isfinite(v)}, roc)


def rescore(store: ArtifactStore, uri: str, sha256: str, holdout: Holdout) -> HoldoutScores:
    """Fetch a stored MOJO (verified by sha256), load it in the runtime and score the holdout."""
    with tempfile.TemporaryDirectory(prefix="converge-holdout-") as folder:
        path = store.fetch_verified(uri, sha256, Path(folder))
        model = load_mojo(path)
        if not isinstance(model, MojoModel):
            raise HoldoutError(f"{uri} is not an H2O-3 MOJO")
        try:
            return scores_of(model, holdout)
        except HoldoutError as exc:
            raise HoldoutError(f"{uri}: {exc}") from exc

"""Train one candidate on H2O, export its MOJO and prove the JVM-free runtime scores it the same."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assets.model_configs import ModelConfig
from assets.training_frame import LABEL, SPLIT, categorical_columns, feature_columns
from resources.h2o import H2OSession
from shared.mojo import load_mojo

PARITY_TOLERANCE = 1e-6


class CandidateTrainingError(RuntimeError):
    """H2O refused or failed a candidate; the message names the config and H2O's reason."""


class ParityError(AssertionError):
    """The JVM-free runtime and H2O disagree on the validation frame beyond the tolerance."""


@dataclass(frozen=True)
class TrainedCandidate:
    """What a candidate run produced, before the MOJO is stored."""

    mojo_path: Path
    metrics: dict[str, float]
    feature_list: list[str]
    h2o_version: str
    started_at: float
    finished_at: float
    train_rows: int
    valid_rows: int
    parity_max_abs_diff: float


def _estimator(config: ModelConfig, model_id: str) -> Any:
    from h2o.estimators import (
        H2OGeneralizedLinearEstimator,
        H2OGradientBoostingEstimator,
        H2ORandomForestEstimator,
        H2OXGBoostEstimator,
    )

    classes = {
        "gbm": H2OGradientBoostingEstimator,
        "drf": H2ORandomForestEstimator,
        "glm": H2OGeneralizedLinearEstimator,
        "xgboost": H2OXGBoostEstimator,
    }
    try:
        return classes[config.algo](model_id=model_id, **config.params)
    except (TypeError, ValueError) as exc:
        raise CandidateTrainingError(
            f"config {config.name}: invalid {config.algo} parameters {config.params}: {exc}"
        ) from exc


def _metrics(performance: Any) -> dict[str, float]:
    metrics = {"logloss": float(performance.logloss()), "auc": float(performance.auc())}
    return {name: value for name, value in metrics.items() if np.isfinite(value)}


def parity_difference(h2o_predictions: pd.DataFrame, runtime: pd.DataFrame) -> tuple[str, float]:
    """The runtime column that differs most from H2O's probabilities, and by how much.

    Probability columns are matched by position (both follow the response domain order); H2O's
    Python client and genmodel name them differently (`p0` vs the class label).
    """
    expected = h2o_predictions.drop(columns=["predict"])
    actual = runtime.drop(columns=["predict"], errors="ignore")
    if expected.shape != actual.shape:
        raise ParityError(
            f"runtime returned columns {list(runtime.columns)} for {len(runtime)} rows; "
            f"H2O returned {list(h2o_predictions.columns)} for {len(h2o_predictions)} rows"
        )
    diffs = np.abs(actual.to_numpy(dtype=float) - expected.to_numpy(dtype=float)).max(axis=0)
    worst = int(np.argmax(diffs))
    return str(actual.columns[worst]), float(diffs[worst])


def train_candidate(
    session: H2OSession, config: ModelConfig, frame: pd.DataFrame, workdir: Path
) -> TrainedCandidate:
    """Train `config` on the frame's train split, export the MOJO, check parity on validation."""
    import h2o
    from h2o.exceptions import H2OResponseError

    features = feature_columns(frame)
    categorical = [*categorical_columns(frame), LABEL]
    train_pdf = frame.loc[frame[SPLIT] == "train", [*features, LABEL]]
    valid_pdf = frame.loc[frame[SPLIT] == "valid", [*features, LABEL]]
    train = session.upload(train_pdf, "train", categorical)
    valid = session.upload(valid_pdf, "valid", categorical)
    model = _estimator(config, session.key("model"))
    started = time.time()
    try:
        model.train(x=features, y=LABEL, training_frame=train, validation_frame=valid)
    except (OSError, H2OResponseError) as exc:
        raise CandidateTrainingError(f"config {config.name}: H2O refused to train: {exc}") from exc
    finished = time.time()
    predictions = model.predict(valid)
    session.keys.append(predictions.frame_id)
    expected = predictions.as_data_frame(use_multi_thread=False)
    mojo_path = Path(model.download_mojo(path=str(workdir)))
    runtime = load_mojo(mojo_path).predict(valid_pdf[features].reset_index(drop=True))
    column, difference = parity_difference(expected, runtime)
    if difference > PARITY_TOLERANCE:
        raise ParityError(
            f"config {config.name}: JVM-free runtime differs from H2O on column {column!r} "
            f"by {difference:.3e} (tolerance {PARITY_TOLERANCE:.0e}) on the validation frame"
        )
    return TrainedCandidate(
        mojo_path=mojo_path,
        metrics=_metrics(model.model_performance(valid)),
        feature_list=features,
        h2o_version=h2o.__version__,
        started_at=started,
        finished_at=finished,
        train_rows=len(train_pdf),
        valid_rows=len(valid_pdf),
        parity_max_abs_diff=difference,
    )

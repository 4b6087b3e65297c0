"""Train one candidate on H2O, export its MOJO and prove the JVM-free runtime scores it the same."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assets.automl import AutoMLParameterError, automl_arguments, leaderboard_markdown
from assets.model_configs import AUTOML, ModelConfig
from assets.training_frame import LABEL, SPLIT, categorical_columns, feature_columns
from resources.h2o import H2OSession
from shared.mojo import UnsupportedMojoError, load_mojo
from shared.parity import check_parity


class CandidateTrainingError(RuntimeError):
    """H2O refused or failed a candidate; the message names the config and H2O's reason."""


@dataclass(frozen=True)
class AutoMLOutcome:
    """What an `automl` config's run chose: its leader and its whole leaderboard (Markdown)."""

    leader_model_id: str
    leaderboard: str


@dataclass(frozen=True)
class TrainedCandidate:
    """What training one config produced, before the MOJO is stored.

    `algo` is the MOJO's algorithm (for `automl`, the leader's). `started_at` .. `trained_at` is
    H2O's training; `checked_at` ends the export and parity check.
    """

    mojo_path: Path
    algo: str
    metrics: dict[str, float]
    feature_list: list[str]
    h2o_version: str
    started_at: float
    trained_at: float
    checked_at: float
    train_rows: int
    valid_rows: int
    parity_max_abs_diff: float
    automl: AutoMLOutcome | None = None


@dataclass(frozen=True)
class UploadedFrames:
    """The training frame's splits on the cluster, uploaded once and shared by every candidate."""

    train: Any
    valid: Any
    valid_features: pd.DataFrame
    features: list[str]
    train_rows: int


def upload_frames(session: H2OSession, frame: pd.DataFrame) -> UploadedFrames:
    """Upload the train and validation splits of `frame` with declared column types."""
    features = feature_columns(frame)
    categorical = [*categorical_columns(frame), LABEL]
    train_pdf = frame.loc[frame[SPLIT] == "train", [*features, LABEL]]
    valid_pdf = frame.loc[frame[SPLIT] == "valid", [*features, LABEL]]
    return UploadedFrames(
        train=session.upload(train_pdf, "train", categorical),
        valid=session.upload(valid_pdf, "valid", categorical),
        valid_features=valid_pdf[features].reset_index(drop=True),
        features=features,
        train_rows=len(train_pdf),
    )


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


def _fit(
    session: H2OSession, config: ModelConfig, frames: UploadedFrames
) -> tuple[Any, AutoMLOutcome | None]:
    """Train `config` on the train split: an estimator, or for `automl` the AutoML's leader."""
    from h2o.exceptions import H2OResponseError

    if config.algo == AUTOML:
        return _fit_automl(session, config, frames)
    model = _estimator(config, session.key(f"model_{config.name}"))
    try:
        model.train(
            x=frames.features, y=LABEL, training_frame=frames.train, validation_frame=frames.valid
        )
    except (OSError, H2OResponseError) as exc:
        raise CandidateTrainingError(f"config {config.name}: H2O refused to train: {exc}") from exc
    return model, None


def _fit_automl(
    session: H2OSession, config: ModelConfig, frames: UploadedFrames
) -> tuple[Any, AutoMLOutcome]:
    """Run H2OAutoML; its leaderboard is scored on the validation split, like the other configs.

    The AutoML's key (and with it every model it built) joins the session's keys for removal.
    """
    from h2o.automl import H2OAutoML
    from h2o.exceptions import H2OResponseError

    try:
        arguments = automl_arguments(config.params)
        automl = H2OAutoML(project_name=f"{session.prefix}_{config.name}", **arguments)
    # The client checks some values with plain asserts (e.g. "nfolds set to -5; use nfolds >= 2").
    except (AutoMLParameterError, TypeError, ValueError, AssertionError) as exc:
        raise CandidateTrainingError(f"config {config.name}: {exc}") from exc
    try:
        automl.train(
            x=frames.features,
            y=LABEL,
            training_frame=frames.train,
            leaderboard_frame=frames.valid,
        )
    except (OSError, H2OResponseError, ValueError, TypeError, AssertionError) as exc:
        raise CandidateTrainingError(
            f"config {config.name}: H2O AutoML refused to train: {exc}"
        ) from exc
    finally:
        if automl.key:
            session.keys.append(automl.key)
    # Frames the client fetched for the leaderboard and event log, named after the project.
    session.keys += [automl.leaderboard.frame_id, automl.event_log.frame_id]
    leader = automl.leader
    if leader is None:
        raise CandidateTrainingError(
            f"config {config.name}: H2O AutoML built no model with {config.params}"
        )
    board = automl.leaderboard.as_data_frame(use_multi_thread=False)
    return leader, AutoMLOutcome(leader.model_id, leaderboard_markdown(board))


def _metrics(performance: Any) -> dict[str, float]:
    metrics = {"logloss": float(performance.logloss()), "auc": float(performance.auc())}
    return {name: value for name, value in metrics.items() if np.isfinite(value)}


def train_candidate(
    session: H2OSession, config: ModelConfig, frames: UploadedFrames, workdir: Path
) -> TrainedCandidate:
    """Train `config` on the uploaded train split, export the MOJO, check parity on validation.

    The model and its predictions are removed from the cluster afterwards; the frames stay.
    """
    import h2o

    created = len(session.keys)
    try:
        started = time.time()
        model, automl = _fit(session, config, frames)
        trained = time.time()
        predictions = model.predict(frames.valid)
        session.keys.append(predictions.frame_id)
        expected = predictions.as_data_frame(use_multi_thread=False)
        mojo_path = Path(model.download_mojo(path=str(workdir)))
        try:
            loaded = load_mojo(mojo_path)
        except UnsupportedMojoError as exc:
            raise CandidateTrainingError(
                f"config {config.name}: the JVM-free runtime refuses {model.model_id}'s MOJO: {exc}"
            ) from exc
        runtime = loaded.predict(frames.valid_features)
        difference = check_parity(
            expected, runtime, f"config {config.name} on the validation frame"
        )
        metrics = _metrics(model.model_performance(frames.valid))
    finally:
        session.remove(session.keys[created:])
    return TrainedCandidate(
        mojo_path=mojo_path,
        algo=loaded.algo,
        metrics=metrics,
        feature_list=frames.features,
        h2o_version=h2o.__version__,
        started_at=started,
        trained_at=trained,
        checked_at=time.time(),
        train_rows=frames.train_rows,
        valid_rows=len(frames.valid_features),
        parity_max_abs_diff=difference,
        automl=automl,
    )

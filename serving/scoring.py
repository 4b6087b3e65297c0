"""Vectorized scoring of feature rows with a loaded MOJO (runs in the executor, off the loop)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.mojo import MojoModel
from shared.schemas import FeatureValue

Prediction = dict[str, float | str | None]


@dataclass(frozen=True)
class LoadedModel:
    """A verified champion ready to score; swapped as a whole, never mutated."""

    model_version: int
    h2o_version: str
    algo: str
    artifact_sha256: str
    mojo: MojoModel


@dataclass(frozen=True)
class Scored:
    """One row's prediction and the model version that produced it."""

    model_version: int
    prediction: Prediction


def _plain(value: float | str) -> float | str | None:
    # JSON has no NaN: a missing prediction is null.
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def score_rows(model: LoadedModel, rows: Sequence[Mapping[str, FeatureValue]]) -> list[Scored]:
    """Score `rows` in one vectorized call; keys the model does not know are ignored."""
    return [
        Scored(model.model_version, {key: _plain(value) for key, value in predicted.items()})
        for predicted in model.mojo.predict_rows(rows)
    ]

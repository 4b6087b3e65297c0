"""Vectorized scoring of feature rows with a loaded MOJO (runs in the executor, off the loop)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

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


def _plain(value: Any) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    number = float(value)
    return None if math.isnan(number) else number


def score_rows(model: LoadedModel, rows: Sequence[Mapping[str, FeatureValue]]) -> list[Scored]:
    """Score `rows` in one vectorized call; keys the model does not know are ignored."""
    columns = model.mojo.columns
    frame = pd.DataFrame.from_records(
        [[row.get(column) for column in columns] for row in rows], columns=columns
    )
    predicted = model.mojo.predict(frame)
    records = predicted.to_dict(orient="records")
    return [
        Scored(model.model_version, {str(key): _plain(value) for key, value in record.items()})
        for record in records
    ]

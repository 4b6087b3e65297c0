"""`prediction_rows_json` writes the bytes orjson writes for `MojoModel.prediction_rows`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import orjson
import pytest

from serving.prediction_json import prediction_rows_json
from shared.mojo import MojoModel, load_mojo
from tests.handmade_mojo import write_glm_mojo

# Shortest texts of every shape: exponents both ways, negative zero, the extremes, NaN (null).
NUMBERS = [0.1, -0.0, 5e-324, 1.7976931348623157e308, 1e16, 1e-7, 123456789.125, 2 / 3, np.nan]


@pytest.fixture
def regression(tmp_path: Path) -> MojoModel:
    """The hand-made GLM: one numeric output column, `predict`."""
    model = load_mojo(write_glm_mojo(tmp_path / "glm.zip"))
    assert isinstance(model, MojoModel)
    return model


def _same_text(model: MojoModel, preds: np.ndarray) -> None:
    assert prediction_rows_json(model, preds) == orjson.dumps(model.prediction_rows(preds))


def test_numbers(regression: MojoModel) -> None:
    _same_text(regression, np.array(NUMBERS)[:, None])


def test_labels_and_probabilities(regression: MojoModel) -> None:
    # Labels that JSON must escape or that hold the separators the writer joins on.
    classes = ["0", 'a, "quoted" label}', "ünï\n"]
    labelled = dataclasses.replace(
        regression, classes=classes, output_columns=["predict", "p0", *classes[1:]]
    )
    count = len(NUMBERS)
    preds = np.column_stack(
        [np.arange(count) % 3, NUMBERS, NUMBERS[::-1], np.linspace(0, 1, count)]
    )
    _same_text(labelled, preds)


def test_one_row_and_none(regression: MojoModel) -> None:
    _same_text(regression, np.array([[1.5]]))
    _same_text(regression, np.empty((0, 1)))

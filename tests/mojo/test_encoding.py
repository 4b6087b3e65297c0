"""Input reading: large text columns (arrow kernels) and small ones (Python loops) agree exactly.

Uses a GLM MOJO written by hand, so the expected predictions follow from its coefficients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.mojo import MojoInputError, load_mojo
from shared.mojo.encoding import RowEncoder
from shared.mojo.frame_encoding import ARROW_MIN_ROWS
from shared.mojo.model import MojoModel
from tests.handmade_mojo import COEFFICIENTS, write_glm_mojo
from tests.mojo.test_decimal_text import random_decimals


@pytest.fixture
def glm(tmp_path: Path) -> MojoModel:
    model = load_mojo(write_glm_mojo(tmp_path / "glm.zip"))
    assert isinstance(model, MojoModel)
    return model


def expected(colour: str, size: str) -> float:
    level = COEFFICIENTS.get(colour, COEFFICIENTS["green"])
    value = 2.5 if size.strip() in ("", "NA", "N/A", "-") else float(size)
    return level + 3 * value + 10


def test_small_and_large_inputs_read_values_alike(glm: MojoModel) -> None:
    colours = ["red", "green", "blue", "purple", "", "NA", "N/A", "-", "Red"]
    sizes = ["1", "2.5", "1e3", "-4", "", "NA", "N/A", "-", "0", " 7 "]
    rng = np.random.default_rng(3)
    n = ARROW_MIN_ROWS * 3
    frame = pd.DataFrame(
        {
            "colour": [colours[i] for i in rng.integers(0, len(colours), n)],
            "size": [sizes[i] for i in rng.integers(0, len(sizes), n)],
        },
        dtype="str",
    )
    large = glm.predict(frame)["predict"].to_numpy()
    small = np.concatenate(
        [glm.predict(frame.iloc[i : i + 7])["predict"].to_numpy() for i in range(0, n, 7)]
    )
    truth = np.array([expected(c, s) for c, s in zip(frame["colour"], frame["size"], strict=True)])
    np.testing.assert_array_equal(small, truth)
    np.testing.assert_array_equal(large, truth)


def test_large_frames_of_plain_decimals_read_like_small_ones(glm: MojoModel) -> None:
    sizes = random_decimals(ARROW_MIN_ROWS * 4)  # all plain: the compiled parser reads them
    frame = pd.DataFrame({"colour": ["red"] * len(sizes), "size": sizes}, dtype="str")
    large = glm.predict(frame)["predict"].to_numpy()
    small = [glm.predict(frame.iloc[i : i + 1])["predict"].iloc[0] for i in range(len(sizes))]
    np.testing.assert_array_equal(large, small)


@pytest.mark.parametrize("rows", [3, ARROW_MIN_ROWS * 2])
def test_bad_number_is_named_in_small_and_large_inputs(glm: MojoModel, rows: int) -> None:
    frame = pd.DataFrame({"colour": ["red"] * rows, "size": ["1"] * rows}, dtype="str")
    frame.loc[rows - 1, "size"] = "seven"
    with pytest.raises(MojoInputError, match=f"'size' is numeric but row {rows - 1} holds 'seven'"):
        glm.predict(frame)


def test_numeric_frames_find_levels_written_as_text(glm: MojoModel, tmp_path: Path) -> None:
    frame = pd.DataFrame({"colour": ["blue", None], "size": [2, np.nan]})
    np.testing.assert_array_equal(
        glm.predict(frame)["predict"].to_numpy(), [expected("blue", "2"), expected("", "")]
    )
    with pytest.raises(MojoInputError, match="booleans"):
        glm.predict(pd.DataFrame({"colour": ["red"], "size": [True]}))
    with pytest.raises(MojoInputError, match="more than once"):
        glm.predict(pd.DataFrame([["red", 1, 2]], columns=["colour", "size", "size"]))


def test_rows_read_values_like_frames(glm: MojoModel) -> None:
    rows: list[dict[str, object]] = [
        {"colour": "red", "size": "1e3"},
        {"colour": "blue", "size": 2},
        {"colour": "green", "size": 2.5},
        {"colour": "purple", "size": " 7 "},
        {"colour": "NA", "size": "N/A"},
        {"colour": None, "size": None},
        {"colour": "blue", "size": float("nan")},
        {"size": "-4"},  # an absent key reads as missing, like an absent column
        {"colour": "red", "size": 1, "unknown": "ignored"},
        {},
    ]
    truth = [
        expected(str(row.get("colour") or ""), "" if row.get("size") is None else str(row["size"]))
        for row in rows
    ]
    truth[6] = expected("blue", "")
    predicted = [row["predict"] for row in glm.predict_rows(rows)]
    assert predicted == truth
    framed = glm.predict(pd.DataFrame.from_records(rows)[["colour", "size"]])
    np.testing.assert_array_equal(framed["predict"].to_numpy(), truth)


def test_rows_name_bad_values(glm: MojoModel) -> None:
    rows: list[dict[str, object]] = [{"colour": "red", "size": 1}, {"size": "seven"}]
    with pytest.raises(MojoInputError, match="'size' is numeric but row 1 holds 'seven'"):
        glm.predict_rows(rows)
    with pytest.raises(MojoInputError, match="'size' is numeric but row 0 holds True"):
        glm.predict_rows([{"size": True}])
    with pytest.raises(MojoInputError, match=r"'size' is numeric but row 0 holds \[1\]"):
        glm.predict_rows([{"size": [1]}])
    assert glm.predict_rows([]) == []


@pytest.mark.parametrize("unseen", [np.nan, -1.0])
def test_large_frames_never_find_a_level_spelt_like_a_missing_token(unseen: float) -> None:
    # H2O can keep "NA" as a level; PredictCsv drops the token before the lookup all the same.
    encoder = RowEncoder.for_columns(["c"], [["a", "NA", "b", ""]], unseen=unseen)
    values = ["a", "NA", "b", "", "N/A", "-", "zz", None, "A"]
    column = [values[i % len(values)] for i in range(ARROW_MIN_ROWS * 2)]
    large = encoder.encode(pd.DataFrame({"c": column}, dtype="str"))[:, 0]
    small = encoder.encode_rows([{"c": value} for value in column])[:, 0]
    np.testing.assert_array_equal(large, small)
    np.testing.assert_array_equal(
        large[:9], [0, np.nan, 2, np.nan, np.nan, np.nan, unseen, np.nan, unseen]
    )

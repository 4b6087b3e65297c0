"""H2O sessions on a shared cluster: typed uploads, unique keys, cleanup of their own keys only."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from assets.h2o_training import ParityError, parity_difference
from resources.h2o import H2OResource


@pytest.mark.h2o
def test_session_removes_only_its_own_keys(h2o_cluster: Any) -> None:
    h2o = h2o_cluster
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, 1.0], "c": ["a", "b", "a", "b"]})
    neighbour = h2o.H2OFrame(frame, destination_frame="neighbour_run_frame")
    resource = H2OResource()
    with resource.session("candidate_a") as first, resource.session("candidate_a") as second:
        uploaded = first.upload(frame, "train", categorical=["c"])
        other = second.upload(frame, "train", categorical=["c"])
        assert uploaded.frame_id != other.frame_id  # same owner and name, still unique
        # Declared types win over H2O's parser guesses: the numeric column stays numeric.
        assert uploaded.types["c"] == "enum"
        assert uploaded.types["x"] in {"int", "real"}
        first.cleanup()
        keys = set(h2o.ls()["key"])
        assert uploaded.frame_id not in keys
        assert other.frame_id in keys
    keys = set(h2o.ls()["key"])
    assert other.frame_id not in keys
    assert neighbour.frame_id in keys
    h2o.remove(neighbour)


@pytest.mark.h2o
def test_upload_keeps_numbers_text_and_missing_cells(h2o_cluster: Any) -> None:
    h2o = h2o_cluster
    numbers = [1 / 3, 0.1 + 0.2, 1e-300, -2.5e17, np.nan, -7.0]
    frame = pd.DataFrame({"x": numbers, "c": ["a", None, 'b,"q"', "1", "a", "z"]})
    with H2OResource().session("upload") as session:
        uploaded = session.upload(frame, "mixed", categorical=["c"])
        assert uploaded.frame_id in set(h2o.ls()["key"])
        assert uploaded.types == {"x": "real", "c": "enum"}
        back = uploaded.as_data_frame(use_multi_thread=False)
        np.testing.assert_allclose(back["x"], numbers, rtol=1e-15)  # NaN stays missing
        # A missing label is NA, not a level named 'nan' (what h2o.H2OFrame makes of None).
        assert uploaded["c"].isna().as_data_frame(use_multi_thread=False).iloc[:, 0].tolist() == [
            0,
            1,
            0,
            0,
            0,
            0,
        ]
        assert uploaded["c"].levels() == [["1", "a", 'b,"q"', "z"]]
    assert uploaded.frame_id not in set(h2o.ls()["key"])


def test_parity_difference_names_the_worst_column() -> None:
    expected = pd.DataFrame({"predict": ["1", "0"], "p0": [0.2, 0.7], "p1": [0.8, 0.3]})
    runtime = pd.DataFrame({"predict": ["1", "0"], "0": [0.2, 0.7], "1": [0.8, 0.3 + 2e-6]})
    column, difference = parity_difference(expected, runtime)
    assert column == "1"
    assert difference == pytest.approx(2e-6)


def test_parity_difference_refuses_mismatched_shapes() -> None:
    expected = pd.DataFrame({"predict": ["1"], "p0": [0.2], "p1": [0.8]})
    with pytest.raises(ParityError, match="runtime returned columns"):
        parity_difference(expected, pd.DataFrame({"predict": ["1"], "p1": [0.8]}))

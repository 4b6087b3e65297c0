"""H2O sessions on a shared cluster: typed uploads, unique keys, cleanup of their own keys only."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import resources.h2o
from resources.h2o import H2O_URL_ENV, H2OResource, start_local_cluster
from resources.memory_split import split_memory
from shared.net import free_port
from shared.parity import ParityError, parity_difference


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


@pytest.fixture
def port_with_next_taken() -> Iterator[int]:
    """A free port whose neighbour port + 1 is held by a listening socket."""
    for _ in range(20):
        port = free_port()
        neighbour = socket.socket()
        try:
            neighbour.bind(("127.0.0.1", port + 1))
        except OSError:
            neighbour.close()
            continue
        neighbour.listen()
        with neighbour:
            yield port
        return
    raise RuntimeError("no free port with a free neighbour in 20 tries")


@pytest.mark.h2o
def test_local_cluster_url_is_where_its_jvm_listens(
    h2o_cluster: Any, port_with_next_taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # h2o.init reads the port as a base and starts the JVM higher up when port + 1 is taken.
    monkeypatch.setattr(resources.h2o, "free_port", lambda: port_with_next_taken)
    cluster = start_local_cluster(split_memory("1g"))
    try:
        assert cluster.url != f"http://127.0.0.1:{port_with_next_taken}"
        assert cluster.url != os.environ[H2O_URL_ENV]
        with H2OResource(url=cluster.url).session("local") as session:  # it answers there
            probe = session.upload(pd.DataFrame({"x": [1.0, 2.0]}), "probe", categorical=[])
            assert probe.nrow == 2
    finally:
        cluster.shutdown()
        # The module-wide connection pointed at the stopped JVM: back to the session's.
        h2o_cluster.connect(url=os.environ[H2O_URL_ENV], verbose=False)


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

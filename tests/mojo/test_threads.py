"""A large frame scored on several threads: the same numbers, in row order, the same refusals."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from converge.cli import cli
from shared.mojo import MojoInputError, load_mojo
from shared.mojo.model import MojoModel
from shared.mojo.threads import MIN_ROWS_PER_THREAD, row_ranges
from tests.handmade_mojo import write_glm_mojo

ROWS = 3 * MIN_ROWS_PER_THREAD + 7


@pytest.fixture
def model(tmp_path: Path) -> MojoModel:
    loaded = load_mojo(write_glm_mojo(tmp_path / "glm.zip"))
    assert isinstance(loaded, MojoModel)
    return loaded


def frame(rows: int = ROWS) -> pd.DataFrame:
    """Text cells as a CSV gives them; every row's prediction differs from its neighbours'."""
    sizes = [str(i / 7) for i in range(rows)]
    colours = [("red", "green", "blue", "")[i % 4] for i in range(rows)]
    return pd.DataFrame({"colour": colours, "size": sizes}, dtype="string[pyarrow]")


def test_ranges_cover_every_row_once_in_order() -> None:
    assert row_ranges(ROWS, 3) == [
        (0, ROWS // 3),
        (ROWS // 3, 2 * ROWS // 3),
        (2 * ROWS // 3, ROWS),
    ]
    assert row_ranges(ROWS, 64) == row_ranges(ROWS, 3)  # never a range under the minimum
    assert row_ranges(MIN_ROWS_PER_THREAD - 1, 8) == [(0, MIN_ROWS_PER_THREAD - 1)]
    assert row_ranges(0, 2) == [(0, 0)]
    with pytest.raises(ValueError, match="at least 1"):
        row_ranges(10, 0)


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_score_exactly_what_one_thread_scores(model: MojoModel, threads: int) -> None:
    rows = frame()
    one = model.predict(rows, threads=1)
    several = model.predict(rows, threads=threads)
    assert np.array_equal(one["predict"].to_numpy(), several["predict"].to_numpy())
    expected = 3 * (np.arange(ROWS) / 7) + 10.0  # size's coefficient 3, intercept 10
    expected += np.array([0.5, -1.0, 2.0, -1.0])[np.arange(ROWS) % 4]  # blank -> mode, green
    np.testing.assert_allclose(several["predict"].to_numpy(), expected, rtol=0, atol=1e-9)


# The first range is scored on the calling thread, the last one on a pool thread; in the last
# range, a row's position is far smaller than its row number.
@pytest.mark.parametrize("bad_row", [5, ROWS - 5])
def test_a_refusal_names_the_row_of_the_whole_input(model: MojoModel, bad_row: int) -> None:
    rows = frame()
    rows.loc[bad_row, "size"] = "abc"
    with pytest.raises(MojoInputError, match=f"row {bad_row} holds 'abc'"):
        model.predict(rows, threads=3)


def test_a_forked_child_scores_on_threads_of_its_own(model: MojoModel) -> None:
    rows = frame()
    expected = model.predict(rows, threads=2)["predict"].to_numpy()  # the parent's pool exists
    child = os.fork()
    if child == 0:  # the child: a hang here is what the deadline below catches
        code = 1
        try:
            scored = model.predict(rows, threads=2)["predict"].to_numpy()
            code = 0 if np.array_equal(scored, expected) else 1
        finally:
            os._exit(code)  # never back into pytest
    deadline = time.monotonic() + 30
    while (waited := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if waited == (0, 0):
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the forked child's threaded predict never finished")
    assert os.waitstatus_to_exitcode(waited[1]) == 0


def test_cli_threads_option(model: MojoModel, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    frame().to_csv(source, index=False)
    runner = CliRunner()
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / f"out-{threads}.csv"
        mojo = str(tmp_path / "glm.zip")
        result = runner.invoke(
            cli,
            [
                "mojo",
                "predict",
                mojo,
                "--input",
                str(source),
                "--output",
                str(out),
                "--threads",
                threads,
            ],
        )
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    refused = runner.invoke(
        cli,
        [
            "mojo",
            "predict",
            str(tmp_path / "glm.zip"),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "x.csv"),
            "--threads",
            "0",
        ],
    )
    assert refused.exit_code == 2
    assert "--threads" in refused.output and not (tmp_path / "x.csv").exists()

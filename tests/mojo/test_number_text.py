"""Numeric text the way genmodel reads it: same numbers where PredictCsv reads them, an error where
it refuses (PredictCsv fails on the file; the runtime raises MojoInputError naming the cell)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from shared.mojo import MojoInputError, load_mojo
from tests.mojo.parity import ParityCase, assert_matches_genmodel, predict_csv

CASE = "gbm-prostate_regression"
# Forms Java's Double.parseDouble reads but Python's float() does not, or reads differently.
READABLE = ["1.5d", "60F", "0x1p6", "+65", " 70 ", "7.", ".5e2", "Infinity", "-Infinity", "NaN"]
# Forms Python's float() reads but Java's parseDouble refuses.
UNREADABLE = ["1_000", "inf", "nan", "infinity"]


def _scoring_csv(case: ParityCase, ages: list[str], path: Path) -> Path:
    base = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False).iloc[: len(ages)]
    base = base.assign(AGE=ages)
    base.to_csv(path, index=False)
    return path


@pytest.mark.h2o
def test_numbers_java_reads_score_as_genmodel_scores_them(
    parity_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    case = parity_cases[CASE]
    csv = _scoring_csv(case, READABLE, tmp_path / "readable.csv")
    expected = predict_csv(genmodel_jar, case.mojo, csv, tmp_path / "genmodel.csv")
    model = load_mojo(case.mojo)
    scoring = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert_matches_genmodel(expected, model.predict(scoring), classes=False)
    rows = scoring.to_dict(orient="records")
    ours = pd.DataFrame(model.predict_rows(rows), columns=["predict"])  # type: ignore[arg-type]
    assert_matches_genmodel(expected, ours, classes=False)


@pytest.mark.h2o
@pytest.mark.parametrize("text", UNREADABLE)
def test_numbers_java_refuses_are_refused(
    text: str, parity_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    case = parity_cases[CASE]
    csv = _scoring_csv(case, ["65", text], tmp_path / "unreadable.csv")
    with pytest.raises(subprocess.CalledProcessError):
        predict_csv(genmodel_jar, case.mojo, csv, tmp_path / "genmodel.csv")
    scoring = pd.read_csv(csv, dtype=str, keep_default_na=False)
    with pytest.raises(MojoInputError, match=f"'AGE' is numeric but row 1 holds '{text}'"):
        load_mojo(case.mojo).predict(scoring)

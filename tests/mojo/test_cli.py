"""`converge mojo predict|info`: PredictCsv's CSV semantics and columns, clear failures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from converge.cli import cli
from tests.mojo.parity import ParityCase, assert_matches_genmodel, predict_csv


@pytest.mark.h2o
@pytest.mark.parametrize("name", ["gbm-synthetic_binomial", "xgboost-iris_multinomial"])
def test_predict_writes_what_predict_csv_writes(
    name: str, parity_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    case = parity_cases[name]
    output = tmp_path / "ours.csv"
    result = CliRunner().invoke(
        cli,
        [
            "mojo",
            "predict",
            str(case.mojo),
            "--input",
            str(case.scoring_csv),
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    expected = predict_csv(genmodel_jar, case.mojo, case.scoring_csv, tmp_path / "genmodel.csv")
    ours = pd.read_csv(output, keep_default_na=False, na_values=["NA"], dtype={"predict": str})
    assert_matches_genmodel(expected, ours, classes=True)


@pytest.mark.h2o
def test_bad_numeric_value_fails_naming_the_column_and_keeps_the_old_output(
    parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    case = parity_cases["gbm-prostate_binomial"]
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    scoring.loc[3, "PSA"] = "twelve"
    bad_input = tmp_path / "bad.csv"
    scoring.to_csv(bad_input, index=False)
    output = tmp_path / "out.csv"
    output.write_text("previous results\n")
    result = CliRunner().invoke(
        cli, ["mojo", "predict", str(case.mojo), "--input", str(bad_input), "--output", str(output)]
    )
    assert result.exit_code != 0
    assert "PSA" in result.output and "twelve" in result.output
    assert output.read_text() == "previous results\n"
    assert list(tmp_path.glob("*.partial")) == []


@pytest.mark.h2o
def test_unsupported_mojo_fails_with_the_reason(
    parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    from tests.mojo.mojo_edit import rewrite_mojo, set_info

    case = parity_cases["gbm-prostate_binomial"]
    edited = rewrite_mojo(
        case.mojo, tmp_path / "m.zip", lambda _, t: set_info(t, "algo", "no_such_algo")
    )
    result = CliRunner().invoke(
        cli,
        [
            "mojo",
            "predict",
            str(edited),
            "--input",
            str(case.scoring_csv),
            "--output",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code != 0
    assert "algorithm 'no_such_algo'" in result.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.h2o
def test_info_describes_the_model(parity_cases: dict[str, ParityCase]) -> None:
    result = CliRunner().invoke(
        cli, ["mojo", "info", str(parity_cases["drf-iris_multinomial"].mojo)]
    )
    assert result.exit_code == 0, result.output
    assert "algo: drf" in result.output
    assert "category: Multinomial" in result.output
    assert "h2o_version: 3.46.0.11" in result.output
    assert "output columns: predict, Iris-setosa, Iris-versicolor, Iris-virginica" in result.output
    assert "Petal.Width (numeric)" in result.output


@pytest.mark.h2o
@pytest.mark.parametrize(
    ("content", "reason"),
    [("", "the file is empty"), ('a,b\n"unterminated,1\n', "cannot read")],
)
def test_unreadable_input_fails_naming_the_file_and_writes_nothing(
    content: str, reason: str, parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    case = parity_cases["gbm-prostate_binomial"]
    bad_input = tmp_path / "bad.csv"
    bad_input.write_text(content)
    output = tmp_path / "out.csv"
    result = CliRunner().invoke(
        cli,
        ["mojo", "predict", str(case.mojo), "--input", str(bad_input), "--output", str(output)],
    )
    assert result.exit_code == 1
    assert reason in result.output and str(bad_input) in result.output
    assert not output.exists()

"""Offset columns (GBM, GLM, XGBoost): read from each input row by name, as PredictCsv does."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shared.mojo import MojoInputError, load_mojo
from tests.mojo.parity import (
    ParityCase,
    check_against_genmodel,
    edge_rows,
    predict_csv,
    synthetic_frame,
)

X = ["x1", "x2", "city", "colour"]
LEVELS = {"city": "city_001", "colour": "red"}
# Offsets of the edge rows: 45 pushes GBM's log link past genmodel's 1e19 cap on exp.
EDGE_OFFSETS = ("0.25", "-2.5", "3", "45")

# name: (algo, response, parameters)
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "gbm-bernoulli": ("gbm", "y_bin", {"distribution": "bernoulli"}),
    "gbm-gaussian": ("gbm", "y_reg", {"distribution": "gaussian"}),
    "gbm-poisson": ("gbm", "y_count", {"distribution": "poisson"}),
    "gbm-tweedie": ("gbm", "y_count", {"distribution": "tweedie"}),
    "glm-gaussian": ("glm", "y_reg", {"family": "gaussian"}),
    "glm-binomial": ("glm", "y_bin", {"family": "binomial"}),
    "glm-poisson": ("glm", "y_count", {"family": "poisson"}),
    "xgboost-binomial": ("xgboost", "y_bin", {"distribution": "bernoulli"}),
    "xgboost-gaussian": ("xgboost", "y_reg", {}),
    "xgboost-poisson": ("xgboost", "y_count", {"distribution": "poisson"}),
}


@pytest.fixture(scope="module")
def offset_cases(
    h2o_cluster: Any, genmodel_jar: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParityCase]:
    """Each model trained with offset column `off` on the synthetic set, and its scoring CSV."""
    h2o = h2o_cluster
    from h2o.estimators import (
        H2OGeneralizedLinearEstimator,
        H2OGradientBoostingEstimator,
        H2OXGBoostEstimator,
    )

    directory = tmp_path_factory.mktemp("offsets")
    synthetic = synthetic_frame(rows=400)
    synthetic["y_count"] = np.floor(np.abs(synthetic["y_reg"]) / 3)
    synthetic["off"] = np.round(np.random.default_rng(3).normal(0, 0.5, len(synthetic)), 4)
    frame = h2o.H2OFrame(
        synthetic,
        column_types={"city": "enum", "colour": "enum", "y_bin": "enum", "y_multi": "enum"},
    )
    text = synthetic.astype(object).where(synthetic.notna(), "").astype(str)
    edges = edge_rows(X, LEVELS, ["x1", "x2"])
    edges["off"] = [EDGE_OFFSETS[i % len(EDGE_OFFSETS)] for i in range(len(edges))]
    scoring_csv = directory / "scoring.csv"
    pd.concat([text[[*X, "off"]], edges], ignore_index=True).to_csv(scoring_csv, index=False)
    makers = {
        "gbm": lambda **kw: H2OGradientBoostingEstimator(ntrees=8, max_depth=3, seed=1, **kw),
        "glm": H2OGeneralizedLinearEstimator,
        "xgboost": lambda **kw: H2OXGBoostEstimator(ntrees=8, max_depth=3, seed=1, **kw),
    }
    cases = {}
    for name, (algo, y, params) in MODELS.items():
        model = makers[algo](offset_column="off", **params)
        model.train(x=X, y=y, training_frame=frame)
        mojo = directory / f"{name}.zip"
        Path(model.download_mojo(path=str(directory))).rename(mojo)
        options = ", ".join(["offset_column", *(f"{k}={v}" for k, v in params.items())])
        cases[name] = ParityCase(f"{name}-offset", mojo, scoring_csv, options)
    return cases


@pytest.mark.h2o
@pytest.mark.parametrize("name", list(MODELS))
def test_offset_matches_genmodel(
    name: str, offset_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    case = offset_cases[name]
    model = check_against_genmodel(case, genmodel_jar, tmp_path)
    assert model.offset_column == "off"
    assert "off" not in model.columns
    # The offset moves the prediction, so parity above proves it is applied.
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    shifted = model.predict(scoring.assign(off="1.5")).iloc[:, -1].to_numpy(float)
    assert not np.allclose(shifted, model.predict(scoring).iloc[:, -1].to_numpy(float))


@pytest.mark.h2o
@pytest.mark.parametrize("name", ["gbm-bernoulli", "glm-gaussian", "xgboost-poisson"])
@pytest.mark.parametrize("bad", ["", "NA", "absent", "abc"])
def test_unreadable_offset_fails_like_predict_csv(
    name: str, bad: str, offset_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    """PredictCsv's Double.parseDouble throws on a blank, NA or text offset: both refuse the row."""
    case = offset_cases[name]
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False).iloc[:4]
    if bad == "absent":
        scoring = scoring.drop(columns="off")
    else:
        scoring.loc[2, "off"] = bad
    path = tmp_path / "bad.csv"
    scoring.to_csv(path, index=False)
    with pytest.raises(subprocess.CalledProcessError):
        predict_csv(genmodel_jar, case.mojo, path, tmp_path / "out.csv")
    model = load_mojo(case.mojo)
    row = "0" if bad == "absent" else "2"
    named = f"column 'off'.* row {row}"
    with pytest.raises(MojoInputError, match=named):
        model.predict(scoring)
    with pytest.raises(MojoInputError, match=named):
        model.predict_rows(scoring.to_dict(orient="records"))
    if bad == "":  # in a frame of numbers a blank offset is NaN
        numeric = scoring.assign(off=np.where(np.arange(len(scoring)) == 2, np.nan, 0.5))
        with pytest.raises(MojoInputError, match=r"column 'off'.* row 2"):
            model.predict(numeric)


@pytest.mark.h2o
def test_cli_reads_the_offset_column_and_names_it(
    offset_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from converge.cli import cli

    case = offset_cases["gbm-poisson"]
    info = CliRunner().invoke(cli, ["mojo", "info", str(case.mojo)])
    assert info.exit_code == 0, info.output
    assert "offset_column: off" in info.output
    output = tmp_path / "ours.csv"
    arguments = ["mojo", "predict", str(case.mojo), "--input", str(case.scoring_csv)]
    scored = CliRunner().invoke(cli, [*arguments, "--output", str(output)])
    assert scored.exit_code == 0, scored.output
    assert "ignoring" not in scored.output
    expected = load_mojo(case.mojo).predict(pd.read_csv(case.scoring_csv, dtype=str))
    ours = pd.read_csv(output)["predict"].to_numpy(float)
    np.testing.assert_allclose(ours, expected["predict"].to_numpy(float), rtol=1e-15)

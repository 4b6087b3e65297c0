"""Real H2O-3 models for the MOJO parity tests, trained once per session, plus genmodel scoring.

Every algorithm x problem type in scope is trained on h2o's shipped prostate.csv / iris.csv and on
a synthetic set with missing values and a high-cardinality categorical. Each model is scored on its
training rows plus edge rows (all missing, unseen levels, values far outside the training range).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.mojo.parity import ParityCase, edge_rows, synthetic_frame

DEFAULT_OPTIONS = {
    "gbm": "default distribution per problem, categorical_encoding AUTO",
    "drf": "defaults (binomial_double_trees off), categorical_encoding AUTO",
    "xgboost": "gbtree booster, categorical_encoding AUTO",
    "glm": "family per problem (gaussian, binomial, multinomial), MeanImputation",
}
ENSEMBLE_OPTIONS = "GBM+DRF+XGBoost bases, GLM metalearner, metalearner_transform NONE"


@pytest.fixture(scope="session")
def genmodel_jar(h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """h2o-genmodel.jar as downloaded with a MOJO from the session's cluster (once per session)."""
    h2o = h2o_cluster
    from h2o.estimators import H2OGeneralizedLinearEstimator

    directory = tmp_path_factory.mktemp("genmodel")
    frame = h2o.H2OFrame(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 2.5, 2.9, 4.2]}))
    model = H2OGeneralizedLinearEstimator()
    model.train(x=["a"], y="b", training_frame=frame)
    model.download_mojo(path=str(directory), get_genmodel_jar=True)
    jar = directory / "h2o-genmodel.jar"
    assert jar.is_file()
    return jar


@pytest.fixture(scope="session")
def parity_cases(
    h2o_cluster: Any, genmodel_jar: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParityCase]:
    """Every algorithm x problem type in scope, trained on real data and exported as MOJOs."""
    h2o = h2o_cluster
    from h2o.estimators import (
        H2OGeneralizedLinearEstimator,
        H2OGradientBoostingEstimator,
        H2ORandomForestEstimator,
        H2OStackedEnsembleEstimator,
        H2OXGBoostEstimator,
    )

    directory = tmp_path_factory.mktemp("parity")
    cases: dict[str, ParityCase] = {}
    h2o_data = Path(str(h2o.__file__)).parent / "h2o_data"

    prostate_text = pd.read_csv(h2o_data / "prostate.csv", dtype=str)
    prostate = h2o.upload_file(str(h2o_data / "prostate.csv"))
    for column in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
        prostate[column] = prostate[column].asfactor()
    iris_text = pd.read_csv(h2o_data / "iris.csv", dtype=str)
    iris = h2o.upload_file(str(h2o_data / "iris.csv"))
    synthetic = synthetic_frame()
    synthetic_h2o = h2o.H2OFrame(
        synthetic,
        column_types={"city": "enum", "colour": "enum", "y_bin": "enum", "y_multi": "enum"},
    )
    synthetic_text = synthetic.astype(object).where(synthetic.notna(), "").astype(str)

    prostate_x = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    prostate_levels = {"RACE": "1", "DPROS": "2", "DCAPS": "1"}
    synthetic_x = ["x1", "x2", "city", "colour"]
    synthetic_levels = {"city": "city_001", "colour": "red"}
    # name: (H2O frame, the same rows as text, x, y, categorical edge values, numeric columns)
    datasets: dict[str, tuple[Any, pd.DataFrame, list[str], str, dict[str, str], list[str]]] = {
        "prostate_binomial": (
            prostate,
            prostate_text,
            prostate_x,
            "CAPSULE",
            prostate_levels,
            ["AGE", "PSA", "VOL", "GLEASON"],
        ),
        "prostate_regression": (
            prostate,
            prostate_text,
            [c for c in prostate_x if c != "VOL"],
            "VOL",
            prostate_levels,
            ["AGE", "PSA", "GLEASON"],
        ),
        "iris_multinomial": (
            iris,
            iris_text,
            list(iris_text.columns[:4]),
            "Species",
            {},
            list(iris_text.columns[:4]),
        ),
        "synthetic_binomial": (
            synthetic_h2o,
            synthetic_text,
            synthetic_x,
            "y_bin",
            synthetic_levels,
            ["x1", "x2"],
        ),
        "synthetic_multinomial": (
            synthetic_h2o,
            synthetic_text,
            synthetic_x,
            "y_multi",
            synthetic_levels,
            ["x1", "x2"],
        ),
        "synthetic_regression": (
            synthetic_h2o,
            synthetic_text,
            synthetic_x,
            "y_reg",
            synthetic_levels,
            ["x1", "x2"],
        ),
    }
    makers: dict[str, Callable[..., Any]] = {
        "gbm": lambda **kw: H2OGradientBoostingEstimator(ntrees=10, max_depth=4, seed=1, **kw),
        "drf": lambda **kw: H2ORandomForestEstimator(ntrees=8, max_depth=8, seed=1, **kw),
        "xgboost": lambda **kw: H2OXGBoostEstimator(ntrees=10, max_depth=4, seed=1, **kw),
        "glm": lambda **kw: H2OGeneralizedLinearEstimator(**kw),
    }
    stacked = ("prostate_binomial", "iris_multinomial", "synthetic_regression")
    cross_validated = {"nfolds": 3, "fold_assignment": "Modulo"}
    for dataset, (frame, text, x, y, levels, numeric) in datasets.items():
        columns = [*x, y]
        scoring = pd.concat([text[columns], edge_rows(columns, levels, numeric)], ignore_index=True)
        scoring_csv = directory / f"{dataset}.csv"
        scoring.to_csv(scoring_csv, index=False)
        bases = []
        for algo, make in makers.items():
            extra = {**cross_validated, "keep_cross_validation_predictions": True}
            model = make(**(extra if dataset in stacked and algo != "glm" else {}))
            model.train(x=x, y=y, training_frame=frame)
            name = f"{algo}-{dataset}"
            cases[name] = _export(model, directory, name, scoring_csv, DEFAULT_OPTIONS[algo])
            if algo != "glm":
                bases.append(model)
        if dataset in stacked:
            ensemble = H2OStackedEnsembleEstimator(base_models=bases, seed=1)
            ensemble.train(x=x, y=y, training_frame=frame)
            name = f"stackedensemble-{dataset}"
            cases[name] = _export(ensemble, directory, name, scoring_csv, ENSEMBLE_OPTIONS)
    return cases


def _export(model: Any, directory: Path, name: str, scoring_csv: Path, options: str) -> ParityCase:
    target = directory / f"{name}.zip"
    Path(model.download_mojo(path=str(directory))).rename(target)
    return ParityCase(name=name, mojo=target, scoring_csv=scoring_csv, options=options)

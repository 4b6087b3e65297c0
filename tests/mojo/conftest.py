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

from tests.mojo.datasets import load_datasets
from tests.mojo.parity import ParityCase

DEFAULT_OPTIONS = {
    "gbm": "default distribution per problem, categorical_encoding AUTO",
    "drf": "defaults (binomial_double_trees off), categorical_encoding AUTO",
    "xgboost": "gbtree booster, categorical_encoding AUTO",
    "glm": "family per problem (gaussian, binomial, multinomial), MeanImputation",
}
ENSEMBLE_OPTIONS = "GBM+DRF+XGBoost bases, GLM metalearner, metalearner_transform NONE"
TRAINED_ON = (
    "prostate_binomial",
    "prostate_regression",
    "iris_multinomial",
    "synthetic_binomial",
    "synthetic_multinomial",
    "synthetic_regression",
)


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
    datasets = load_datasets(h2o)
    makers: dict[str, Callable[..., Any]] = {
        "gbm": lambda **kw: H2OGradientBoostingEstimator(ntrees=10, max_depth=4, seed=1, **kw),
        "drf": lambda **kw: H2ORandomForestEstimator(ntrees=8, max_depth=8, seed=1, **kw),
        "xgboost": lambda **kw: H2OXGBoostEstimator(ntrees=10, max_depth=4, seed=1, **kw),
        "glm": lambda **kw: H2OGeneralizedLinearEstimator(**kw),
    }
    stacked = ("prostate_binomial", "iris_multinomial", "synthetic_regression")
    cross_validated = {"nfolds": 3, "fold_assignment": "Modulo"}
    for dataset in TRAINED_ON:
        data = datasets[dataset]
        frame, x, y = data.frame, data.x, data.y
        scoring_csv = data.scoring_csv(directory)
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

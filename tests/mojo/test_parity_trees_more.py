"""Parity of tree variants AutoML builds: extremely randomized trees (XRT), monotone GBM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.mojo.datasets import export, load_datasets
from tests.mojo.parity import ParityCase, check_against_genmodel

# case: (problem, estimator, parameters, options)
VARIANTS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "xrt-prostate_binomial": (
        "prostate_binomial",
        "drf",
        {"histogram_type": "Random", "ntrees": 10, "max_depth": 8},
        'histogram_type="Random" (XRT)',
    ),
    "xrt-prostate_regression": (
        "prostate_regression",
        "drf",
        {"histogram_type": "Random", "ntrees": 10, "max_depth": 8},
        'histogram_type="Random" (XRT)',
    ),
    "xrt-iris_multinomial": (
        "iris_multinomial",
        "drf",
        {"histogram_type": "Random", "ntrees": 10, "max_depth": 8},
        'histogram_type="Random" (XRT)',
    ),
    "gbm_monotone-prostate_binomial": (
        "prostate_binomial",
        "gbm",
        {"monotone_constraints": {"AGE": -1, "PSA": 1, "GLEASON": 1}, "ntrees": 15, "max_depth": 4},
        "monotone_constraints AGE -1, PSA +1, GLEASON +1 (bernoulli)",
    ),
    "gbm_monotone-prostate_regression": (
        "prostate_regression",
        "gbm",
        {"monotone_constraints": {"AGE": 1, "PSA": -1}, "ntrees": 15, "max_depth": 4},
        "monotone_constraints AGE +1, PSA -1 (gaussian)",
    ),
}


@pytest.fixture(scope="module")
def tree_cases(h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ParityCase]:
    """Each variant trained once on its problem and exported."""
    from h2o.estimators import H2OGradientBoostingEstimator, H2ORandomForestEstimator

    estimators = {"drf": H2ORandomForestEstimator, "gbm": H2OGradientBoostingEstimator}
    directory = tmp_path_factory.mktemp("trees_more")
    data = load_datasets(h2o_cluster)
    cases: dict[str, ParityCase] = {}
    for name, (problem, algo, parameters, options) in VARIANTS.items():
        spec = data[problem]
        model = estimators[algo](seed=1, **parameters)
        model.train(x=spec.x, y=spec.y, training_frame=spec.frame)
        cases[name] = ParityCase(
            name, export(model, directory, name), spec.scoring_csv(directory), options
        )
    return cases


@pytest.mark.h2o
@pytest.mark.parametrize("name", list(VARIANTS))
def test_matches_genmodel_predict_csv(
    name: str, tree_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    model = check_against_genmodel(tree_cases[name], genmodel_jar, tmp_path)
    assert model.algo == VARIANTS[name][1]

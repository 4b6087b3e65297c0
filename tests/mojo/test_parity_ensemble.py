"""StackedEnsemble variants: non-GLM metalearners, the Logit transform, dropped base models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.mojo.datasets import export, load_datasets
from tests.mojo.mojo_edit import rewrite_mojo
from tests.mojo.parity import ParityCase, check_against_genmodel

CLASSIFIER_METALEARNERS = ("glm", "gbm", "drf", "xgboost", "deeplearning")
# Regression skips the transform, so one non-GLM metalearner shows the slots are read in order.
METALEARNERS = {
    "prostate_binomial": CLASSIFIER_METALEARNERS,
    "iris_multinomial": CLASSIFIER_METALEARNERS,
    "prostate_regression": ("gbm",),
}
CASES = [f"{algo}-{problem}" for problem, algos in METALEARNERS.items() for algo in algos]


@pytest.fixture(scope="module")
def ensemble_cases(
    h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParityCase]:
    """Per problem two cross-validated base models and one ensemble per metalearner algorithm."""
    from h2o.estimators import (
        H2OGeneralizedLinearEstimator,
        H2OGradientBoostingEstimator,
        H2OStackedEnsembleEstimator,
    )

    directory = tmp_path_factory.mktemp("ensembles")
    data = load_datasets(h2o_cluster)
    cv = {"nfolds": 3, "fold_assignment": "Modulo", "keep_cross_validation_predictions": True}
    cases: dict[str, ParityCase] = {}
    for problem, metalearners in METALEARNERS.items():
        spec = data[problem]
        bases = [
            H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=1, **cv),
            H2OGeneralizedLinearEstimator(**cv),
        ]
        for base in bases:
            base.train(x=spec.x, y=spec.y, training_frame=spec.frame)
        # H2O refuses a transform for regression; classifiers get AutoML's Logit.
        transform = "NONE" if problem.endswith("regression") else "Logit"
        for algo in metalearners:
            ensemble = H2OStackedEnsembleEstimator(
                base_models=bases,
                metalearner_algorithm=algo,
                metalearner_transform=transform,
                seed=1,
            )
            ensemble.train(x=spec.x, y=spec.y, training_frame=spec.frame)
            name = f"{algo}-{problem}"
            options = f"metalearner {algo}, metalearner_transform={transform}"
            cases[name] = ParityCase(
                name,
                export(ensemble, directory, f"se-{name}"),
                spec.scoring_csv(directory),
                options,
            )
    return cases


@pytest.mark.h2o
@pytest.mark.parametrize("name", CASES)
def test_matches_genmodel_predict_csv(
    name: str, ensemble_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    model = check_against_genmodel(ensemble_cases[name], genmodel_jar, tmp_path)
    assert model.algo == "stackedensemble"


@pytest.mark.h2o
@pytest.mark.parametrize("problem", ["prostate_binomial", "iris_multinomial"])
def test_a_dropped_base_model_keeps_its_slot(
    problem: str, ensemble_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    """A base model left out of the MOJO (unused) keeps its slot, 0 before the transform."""
    case = ensemble_cases[f"glm-{problem}"]

    def drop_first_base_model(name: str, text: str) -> str:
        if name != "model.ini":
            return text
        assert "base_model0 = " in text
        return "\n".join(line for line in text.split("\n") if not line.startswith("base_model0 "))

    edited = rewrite_mojo(case.mojo, tmp_path / "dropped.zip", drop_first_base_model)
    dropped = ParityCase(
        f"{case.name}-dropped", edited, case.scoring_csv, f"{case.options}, a base model dropped"
    )
    check_against_genmodel(dropped, genmodel_jar, tmp_path)

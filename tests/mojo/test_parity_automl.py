"""Parity of every model an H2OAutoML run leaves on its leaderboard, ensembles and base models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.mojo.datasets import export, load_datasets
from tests.mojo.parity import ParityCase, check_against_genmodel

PROBLEMS = ("prostate_binomial", "iris_multinomial", "prostate_regression")
# One model of each family AutoML builds by default (two GBMs, or AllModels would have the same base
# models as BestOfFamily and AutoML would skip it), then its two default ensembles. The default
# plan with max_models <= 8 stops before DeepLearning, so the steps are listed; XGBoost's def_3 is
# its shallowest default (max_depth 5).
MODELING_PLAN = [
    {"name": "XGBoost", "steps": [{"id": "def_3", "group": 1}]},
    {"name": "GLM", "steps": [{"id": "def_1", "group": 1}]},
    {"name": "DRF", "steps": [{"id": "def_1", "group": 1}, {"id": "XRT", "group": 1}]},
    {"name": "GBM", "steps": [{"id": "def_1", "group": 1}, {"id": "def_2", "group": 1}]},
    {"name": "DeepLearning", "steps": [{"id": "def_1", "group": 1}]},
    {"name": "StackedEnsemble", "alias": "defaults"},
]
BASE_MODELS = ("XGBoost_1", "GLM_1", "DRF_1", "XRT_1", "GBM_1", "GBM_2", "DeepLearning_1")
KINDS = (*BASE_MODELS, "StackedEnsemble_AllModels_1", "StackedEnsemble_BestOfFamily_1")
ALGOS = {"XRT": "drf"}


def _kind(model_id: str) -> str:
    """`StackedEnsemble_AllModels_1_AutoML_2_2026...` -> `StackedEnsemble_AllModels_1`."""
    match = re.match(r"(.+?_\d+)_AutoML_", model_id)
    assert match, model_id
    return match.group(1)


def _options(model: Any, kind: str) -> str:
    # Which model leads varies between runs; the scope table must not, so it is left out here.
    if kind.startswith("StackedEnsemble"):
        parameters = model.actual_params
        description = (
            f"StackedEnsemble {kind.split('_')[1]}, metalearner "
            f"{parameters['metalearner_algorithm']}, "
            f"metalearner_transform={parameters['metalearner_transform']}"
        )
    else:
        description = f"{kind.split('_')[0]} base model"
    return f"AutoML {description}"


@pytest.fixture(scope="module")
def automl_cases(
    h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, ParityCase]]:
    """Per problem, every leaderboard model by kind, exported (one small AutoML run each)."""
    h2o = h2o_cluster
    from h2o.automl import H2OAutoML

    directory = tmp_path_factory.mktemp("automl")
    data = load_datasets(h2o)
    cases: dict[str, dict[str, ParityCase]] = {}
    for name in PROBLEMS:
        spec = data[name]
        automl = H2OAutoML(
            max_models=len(BASE_MODELS),
            nfolds=3,
            seed=1,
            # A guard only: a run cut short would miss families. Each run needs ~30 s of JVM CPU.
            max_runtime_secs=600,
            modeling_plan=MODELING_PLAN,
            project_name=f"parity_{name}",
            verbosity=None,
        )
        automl.train(x=spec.x, y=spec.y, training_frame=spec.frame)
        model_ids = [str(i) for i in automl.leaderboard["model_id"].as_data_frame()["model_id"]]
        cases[name] = {}
        for model_id in model_ids:
            kind = _kind(model_id)
            assert kind not in cases[name], f"two {kind} models on {name}'s leaderboard"
            model = h2o.get_model(model_id)
            mojo = export(model, directory, f"{name}-{kind}")
            options = _options(model, kind)
            cases[name][kind] = ParityCase(
                f"automl-{name}-{kind}", mojo, spec.scoring_csv(directory), options
            )
    return cases


@pytest.mark.h2o
@pytest.mark.parametrize("problem", PROBLEMS)
def test_leaderboard_holds_every_family_and_both_ensembles(
    problem: str, automl_cases: dict[str, dict[str, ParityCase]]
) -> None:
    assert sorted(automl_cases[problem]) == sorted(KINDS)


@pytest.mark.h2o
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_matches_genmodel_predict_csv(
    problem: str,
    kind: str,
    automl_cases: dict[str, dict[str, ParityCase]],
    genmodel_jar: Path,
    tmp_path: Path,
) -> None:
    model = check_against_genmodel(automl_cases[problem][kind], genmodel_jar, tmp_path)
    family = kind.split("_")[0]
    assert model.algo == ALGOS.get(family, family.lower())
    if kind.startswith("StackedEnsemble") and problem != "prostate_regression":
        assert "metalearner_transform=Logit" in automl_cases[problem][kind].options

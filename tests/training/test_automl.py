"""`automl` and `xgboost` configs: AutoML is one candidate, trained and checked like the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import AssetKey, DagsterEventType, materialize
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.automl import AutoMLParameterError, automl_arguments, leaderboard_markdown
from assets.candidates import candidate_model
from assets.definitions import defs
from assets.jobs import features_job, prepare_training_job
from assets.model_configs import MODEL_CONFIG_PARTITIONS, expand_matrix
from assets.pipeline import candidate_outcome, run_in_process
from resources.environments import get_resources
from tests.training.conftest import TrainingEnvironment

# Tiny on purpose (2 cores shared): two GBMs, no cross-validation.
TINY_AUTOML = "automl:\n  max_models: 2\n  nfolds: 0\n  seed: 1\n  include_algos: [GBM]\n"


def test_automl_is_one_config_whose_lists_are_values() -> None:
    configs = expand_matrix(
        {"gbm": {"max_depth": [2, 3]}, "automl": {"max_models": 3, "include_algos": ["GBM"]}}
    )
    assert [c.name for c in configs] == ["gbm-max_depth2", "gbm-max_depth3", "automl"]
    assert configs[2].algo == "automl"
    assert configs[2].params == {"max_models": 3, "include_algos": ["GBM"]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_model": 2}, "unknown AutoML parameter 'max_model'"),
        ({"project_name": "x", "zz": 1}, "unknown AutoML parameter 'project_name' (and 'zz')"),
        ({"sort_metric": "accuracy"}, "sort_metric 'accuracy' is not one of"),
    ],
)
def test_bad_automl_parameters_are_named(params: dict[str, Any], message: str) -> None:
    with pytest.raises(AutoMLParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        automl_arguments(params)


def test_valid_automl_parameters_pass_through() -> None:
    params = {"max_models": 2, "sort_metric": "logloss", "modeling_plan": [{"name": "GBM"}]}
    assert automl_arguments(params) == params


def test_leaderboard_markdown() -> None:
    board = pd.DataFrame({"model_id": ["GBM_2", "GBM_1"], "auc": [0.8, 0.75]})
    assert leaderboard_markdown(board).splitlines() == [
        "| rank | model_id | auc |",
        "| --- | --- | --- |",
        "| 1 | GBM_2 | 0.800000 |",
        "| 2 | GBM_1 | 0.750000 |",
    ]


def _prepare(environment: TrainingEnvironment, tmp_path: Path, mp: Any, matrix: str) -> None:
    path = tmp_path / "configs.yaml"
    path.write_text(matrix)
    mp.setenv("CONVERGE_MODEL_CONFIGS", str(path))
    config = {"ops": {"ingest_features": {"config": {"demo_entities": 300}}}}
    run_in_process(environment.instance, features_job, config)
    run_in_process(environment.instance, prepare_training_job)


def _train(environment: TrainingEnvironment) -> str:
    partitions = environment.instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS)
    upstream = [a for a in defs.assets or [] if a not in (candidate_model,)]
    result = materialize(
        [*upstream, candidate_model],  # type: ignore[list-item]
        selection=[candidate_model],
        instance=environment.instance,
        resources=get_resources(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: partitions[0],
            ASSET_PARTITION_RANGE_END_TAG: partitions[-1],
        },
        raise_on_error=False,
    )
    return result.run_id


def _materializations(environment: TrainingEnvironment, run_id: str) -> dict[str, Any]:
    entries = environment.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    found: dict[str, Any] = {}
    for entry in entries:
        event = entry.dagster_event
        assert event is not None and event.asset_key == AssetKey("candidate_model")
        found[str(event.partition)] = {
            k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()
        }
    return found


@pytest.mark.h2o
def test_automl_leader_and_xgboost_are_candidates(
    h2o_cluster: Any,
    training_environment: TrainingEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matrix = "xgboost:\n  ntrees: 5\n  seed: 1\n  max_depth: [3]\n" + TINY_AUTOML
    _prepare(training_environment, tmp_path, monkeypatch, matrix)
    before = set(h2o_cluster.ls()["key"])
    run_id = _train(training_environment)
    outcome = candidate_outcome(training_environment.instance, [run_id], ["xgboost-max_depth3"])
    assert outcome.failures == {}
    found = _materializations(training_environment, run_id)
    assert sorted(found) == ["automl", "xgboost-max_depth3"]

    xgb = found["xgboost-max_depth3"]
    assert xgb["algo"] == "xgboost" and xgb["parity_max_abs_diff"] <= 1e-6
    assert 0.5 < xgb["metric_auc"] <= 1.0

    automl = found["automl"]
    config = automl["training_config"]
    assert config["algo"] == "automl" and config["include_algos"] == ["GBM"]
    assert config["leader_algo"] == automl["algo"] == "gbm"
    assert config["leader_model_id"].startswith("GBM_")
    assert automl["parity_max_abs_diff"] <= 1e-6
    board = automl["leaderboard"].splitlines()
    assert board[0].startswith("| rank | model_id | auc | logloss |")
    assert len(board) == 4  # header, rule, the two models
    assert f"| 1 | {config['leader_model_id']} |" in board[2]
    # The run removed the AutoML and every model it built; the shared cluster keeps nothing.
    assert set(h2o_cluster.ls()["key"]) <= before


@pytest.mark.h2o
@pytest.mark.parametrize(
    ("automl", "message"),
    [
        ("  max_model: 2\n", "unknown AutoML parameter 'max_model'"),
        ("  max_models: 2\n  include_algos: [Foo]\n", "include_algos"),
        ("  max_models: 2\n  nfolds: -5\n", "nfolds set to -5"),
    ],
)
def test_bad_automl_parameters_fail_that_candidate_only(
    h2o_cluster: Any,
    training_environment: TrainingEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    automl: str,
    message: str,
) -> None:
    matrix = "glm:\n  family: binomial\n  alpha: [0.5]\nautoml:\n" + automl
    _prepare(training_environment, tmp_path, monkeypatch, matrix)
    run_id = _train(training_environment)
    outcome = candidate_outcome(training_environment.instance, [run_id], ["glm-alpha0.5", "automl"])
    assert outcome.trained == ["glm-alpha0.5"]
    assert list(outcome.failures) == ["automl"]
    assert outcome.failures["automl"].startswith("CandidateTrainingError: config automl: ")
    assert message in outcome.failures["automl"]

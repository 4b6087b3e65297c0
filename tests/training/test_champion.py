"""Champion selection on a real instance, registry and H2O: like with like, floor before promotion.

The challenger and the incumbent are both scored by the JVM-free runtime on the current validation
split; the metric a model recorded at its own training (another frame) is not what is compared.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from dagster import AssetMaterialization

from assets.candidates import candidate_metadata
from assets.definitions import defs
from assets.h2o_training import TrainedCandidate, train_candidate, upload_frames
from assets.holdout import auc
from assets.jobs import champion_job, features_job, prepare_training_job
from assets.leaderboard import CandidateResult, leaderboard_markdown, rank
from assets.model_configs import MODEL_CONFIG_PARTITIONS, ModelConfig
from assets.pipeline import PipelineStepError, run_in_process
from resources.h2o import H2OResource
from shared.artifacts import StoredArtifact, open_artifact_store
from shared.registry import (
    NewModel,
    current_champion,
    list_models,
    promote,
    promotion_history,
    register_model,
)
from shared.versions import pinned_versions
from tests.training.conftest import TrainingEnvironment

# All-zero coefficients: a constant prediction, AUC 0.5 on any frame.
WEAK = ModelConfig("glm-weak", "glm", {"family": "binomial", "lambda_": 10.0})
STRONG = ModelConfig("gbm-strong", "gbm", {"ntrees": 10, "max_depth": 3, "seed": 1})


def _candidate(name: str, auc: float, logloss: float = 0.5) -> CandidateResult:
    return CandidateResult(
        config_name=name,
        algo="gbm",
        metrics={"auc": auc, "logloss": logloss},
        artifact_uri=f"file:///artifacts/{name}.zip",
        artifact_sha256=f"{abs(hash(name)) % 16**12:012x}".rjust(64, "a"),
        h2o_version="3.46.0.11",
        feature_list=["age", "segment"],
        training_config={"algo": "gbm", "ntrees": 8},
        training_started_at=0.0,
        training_finished_at=1.0,
        candidate_finished_at=1.5,
    )


def test_rank_is_by_metric_direction_then_name() -> None:
    a, b, c = _candidate("b", 0.8, 0.4), _candidate("a", 0.8, 0.3), _candidate("c", 0.9, 0.6)
    assert [x.config_name for x in rank([a, b, c], "auc")] == ["c", "a", "b"]
    assert [x.config_name for x in rank([a, b, c], "logloss")] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="have no 'rmse' metric"):
        rank([a], "rmse")


def test_leaderboard_is_a_markdown_table() -> None:
    table = leaderboard_markdown(rank([_candidate("x", 0.7), _candidate("y", 0.9)], "auc"), "auc")
    lines = table.splitlines()
    assert lines[0] == "| rank | config | algo | auc | logloss | sha256 |"
    assert lines[2].startswith("| 1 | y | gbm | 0.900000 | 0.500000 |")
    assert lines[3].startswith("| 2 | x |")


def test_exact_auc() -> None:
    positive = np.array([True, False, True, False])
    assert auc(positive, np.array([0.9, 0.1, 0.4, 0.4])) == 0.875
    assert auc(positive, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5


def _prepare(environment: TrainingEnvironment) -> None:
    config = {"ops": {"ingest_features": {"config": {"demo_entities": 300}}}}
    run_in_process(environment.instance, features_job, config)
    run_in_process(environment.instance, prepare_training_job)


def _train(
    environment: TrainingEnvironment, configs: list[ModelConfig]
) -> dict[str, tuple[TrainedCandidate, StoredArtifact]]:
    """Train `configs` on the instance's training frame and store their MOJOs."""
    frame = defs.load_asset_value("training_frame", instance=environment.instance)
    assert isinstance(frame, pd.DataFrame)
    store = open_artifact_store(environment.env["ARTIFACT_STORE_URI"])
    trained = {}
    with H2OResource().session(owner="test_champion") as session:
        frames = upload_frames(session, frame)
        for config in configs:
            with tempfile.TemporaryDirectory() as workdir:
                candidate = train_candidate(session, config, frames, Path(workdir))
                trained[config.name] = (candidate, store.put_file(candidate.mojo_path))
    return trained


def _report(
    environment: TrainingEnvironment,
    config: ModelConfig,
    trained: tuple[TrainedCandidate, StoredArtifact],
) -> None:
    """Record a candidate materialization as candidate_model's runs do."""
    environment.instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, [config.name])
    metadata = candidate_metadata(config, *trained, stored_at=time.time())
    environment.instance.report_runless_asset_event(
        AssetMaterialization("candidate_model", partition=config.name, metadata=metadata)
    )


def _register_and_promote(url: str, stored: StoredArtifact, metrics: dict[str, Any]) -> int:
    """An incumbent as an earlier training left it: metrics from its own (other) frame."""
    new = NewModel(
        artifact_uri=stored.uri,
        artifact_sha256=stored.sha256,
        git_commit_sha="earlier",
        h2o_version=pinned_versions().h2o_version,
        algo="glm",
        metrics=metrics,
        training_config={"config_name": "earlier"},
        feature_list=["age"],
        orchestrator="dagster",
    )
    with psycopg.connect(url) as conn:
        version = register_model(conn, new).model_version
        promote(conn, version, "an earlier training")
    return version


def _champion(environment: TrainingEnvironment, **policy: Any) -> dict[str, Any]:
    config = {"resources": {"training_policy": {"config": policy}}} if policy else {}
    result = run_in_process(environment.instance, champion_job, config)
    summary: dict[str, Any] = result.output_for_node("champion_model")
    return summary


@pytest.mark.h2o
def test_incumbent_is_rescored_on_the_current_validation_split(
    h2o_cluster: Any, training_environment: TrainingEnvironment
) -> None:
    _prepare(training_environment)
    trained = _train(training_environment, [WEAK, STRONG])
    url = training_environment.env["DATABASE_URL"]
    # The incumbent recorded auc 0.99 on the frame it was trained with; on today's rows it is 0.5.
    incumbent = _register_and_promote(url, trained[WEAK.name][1], {"auc": 0.99})
    _report(training_environment, STRONG, trained[STRONG.name])
    h2o_auc = trained[STRONG.name][0].metrics["auc"]

    held = _champion(training_environment, promotion_margin=0.9)
    assert held["promoted"] is False and held["incumbent_value"] == 0.5
    assert "margin 0.9" in held["reason"]

    summary = _champion(training_environment)
    assert summary["promoted"] is True, summary["reason"]
    assert summary["incumbent_value"] == 0.5
    assert abs(summary["value"] - h2o_auc) < 0.02  # exact AUC vs H2O's binned one, same rows
    assert f"vs champion v{incumbent} auc=0.500000 on the same rows" in summary["reason"]
    assert summary["validation_rows"] == trained[STRONG.name][0].valid_rows
    with psycopg.connect(url) as conn:
        champion = current_champion(conn)
        assert len(promotion_history(conn)) == 2
    assert champion is not None and champion.model.model_version == summary["model_version"]

    again = _champion(training_environment)
    assert again["promoted"] is False and "already champion" in again["reason"]
    with psycopg.connect(url) as conn:
        assert len(list_models(conn)) == 2


@pytest.mark.h2o
def test_a_first_model_below_the_floor_is_not_promoted(
    h2o_cluster: Any, training_environment: TrainingEnvironment
) -> None:
    _prepare(training_environment)
    trained = _train(training_environment, [WEAK])
    _report(training_environment, WEAK, trained[WEAK.name])
    with pytest.raises(PipelineStepError, match="champion_metric_floor"):
        _champion(training_environment)
    with psycopg.connect(training_environment.env["DATABASE_URL"]) as conn:
        assert current_champion(conn) is None
        (registered,) = list_models(conn)
    assert registered.training_config["config_name"] == WEAK.name


def test_no_successful_candidate_fails_clearly(training_environment: TrainingEnvironment) -> None:
    _prepare(training_environment)
    training_environment.instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, ["a", "b"])
    with pytest.raises(PipelineStepError, match="no candidate of the"):
        run_in_process(training_environment.instance, champion_job)

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
from dagster import (
    AssetMaterialization,
    ExecuteInProcessResult,
    TableMetadataValue,
    TimestampMetadataValue,
    UrlMetadataValue,
)

from assets.candidates import candidate_metadata
from assets.champion_metadata import ROC_POINTS, roc_table
from assets.definitions import defs
from assets.h2o_training import TrainedCandidate, train_candidate, upload_frames
from assets.holdout import HoldoutError, auc, roc_points
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


def test_leaderboard_names_the_registry_version_each_candidate_became() -> None:
    x, y = _candidate("x", 0.7), _candidate("y", 0.9)
    table = leaderboard_markdown(rank([x, y], "auc"), "auc", {y.artifact_sha256: 4})
    lines = table.splitlines()
    assert lines[0] == "| rank | config | algo | auc | logloss | sha256 | model_version |"
    assert lines[2].endswith(f"| {y.artifact_sha256[:12]} | v4 |")
    assert lines[3].endswith(f"| {x.artifact_sha256[:12]} |  |")


def test_roc_curve_adds_up_to_the_exact_auc_and_is_thinned_with_its_ends() -> None:
    rng = np.random.default_rng(5)
    positive = rng.random(2000) < 0.3
    scores = np.round(rng.random(2000) + 0.4 * positive, 3)  # many ties
    curve = roc_points(positive, scores)
    area = np.trapezoid(np.r_[0.0, curve["tpr"]], np.r_[0.0, curve["fpr"]])
    assert area == pytest.approx(auc(positive, scores), abs=1e-12)
    assert curve["threshold"].is_monotonic_decreasing
    assert (curve["fpr"].diff().dropna() >= 0).all() and (curve["tpr"].diff().dropna() >= 0).all()
    assert curve.iloc[-1][["fpr", "tpr"]].tolist() == [1.0, 1.0]
    table = roc_table(curve)
    rows = [record.data for record in table.records]
    assert len(rows) == ROC_POINTS < len(curve)
    assert rows[0] == curve.iloc[0].to_dict() and rows[-1] == curve.iloc[-1].to_dict()
    with pytest.raises(HoldoutError, match=r"without both classes \(0 positive, 3 negative\)"):
        roc_points(np.zeros(3, dtype=bool), np.array([0.1, 0.2, 0.3]))


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


def _champion_run(environment: TrainingEnvironment, **policy: Any) -> ExecuteInProcessResult:
    config = {"resources": {"training_policy": {"config": policy}}} if policy else {}
    return run_in_process(environment.instance, champion_job, config)


def _champion(environment: TrainingEnvironment, **policy: Any) -> dict[str, Any]:
    summary: dict[str, Any] = _champion_run(environment, **policy).output_for_node("champion_model")
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

    run = _champion_run(training_environment)
    summary = run.output_for_node("champion_model")
    assert summary["promoted"] is True, summary["reason"]
    _check_champion_metadata(run, summary, incumbent, trained[STRONG.name][1])
    metadata = candidate_metadata(STRONG, *trained[STRONG.name], stored_at=time.time())
    assert isinstance(metadata["training_started_at"], TimestampMetadataValue)
    assert isinstance(metadata["artifact_uri"], UrlMetadataValue)
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


def _check_champion_metadata(
    run: ExecuteInProcessResult, summary: dict[str, Any], incumbent: int, stored: StoredArtifact
) -> None:
    """Typed metadata: dates, the artifact as a link, registry history and the ROC curve."""
    (materialization,) = run.asset_materializations_for_node("champion_model")
    metadata = materialization.metadata
    assert isinstance(metadata["registered_at"], TimestampMetadataValue)
    assert metadata["artifact_uri"] == UrlMetadataValue(stored.uri)
    version = summary["model_version"]
    assert f"| {stored.sha256[:12]} | v{version} |" in str(metadata["leaderboard"].value)
    history = metadata["metric_history"]
    assert isinstance(history, TableMetadataValue)
    rows = [record.data for record in history.records]
    assert [(r["model_version"], r["auc"], r["champion"]) for r in rows] == [
        (incumbent, 0.99, False),
        (version, pytest.approx(summary["value"], abs=0.02), True),
    ]
    assert all(row["first_promoted_at"] for row in rows)  # both were champion once
    roc = metadata["roc_curve"]
    assert isinstance(roc, TableMetadataValue)
    points = [record.data for record in roc.records]
    assert 2 < len(points) <= ROC_POINTS
    assert (points[-1]["fpr"], points[-1]["tpr"]) == (1.0, 1.0)
    assert [p["threshold"] for p in points] == sorted(
        (p["threshold"] for p in points), reverse=True
    )


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

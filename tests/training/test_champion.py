"""Champion selection on a real instance and registry: best by metric, tie-break, margin, reason."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from dagster import AssetMaterialization

from assets.jobs import champion_job
from assets.leaderboard import CandidateResult, leaderboard_markdown, rank
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from assets.pipeline import PipelineStepError, run_in_process
from shared.registry import current_champion, list_models, promotion_history
from tests.training.conftest import TrainingEnvironment


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


def _report(environment: TrainingEnvironment, candidate: CandidateResult) -> None:
    """Record a candidate materialization as candidate_model's runs do."""
    instance = environment.instance
    instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, [candidate.config_name])
    metadata: dict[str, Any] = {
        "config_name": candidate.config_name,
        "algo": candidate.algo,
        "metrics": candidate.metrics,
        "artifact_uri": candidate.artifact_uri,
        "artifact_sha256": candidate.artifact_sha256,
        "h2o_version": candidate.h2o_version,
        "feature_list": candidate.feature_list,
        "training_config": candidate.training_config,
        "training_started_at": candidate.training_started_at,
        "training_finished_at": candidate.training_finished_at,
        "candidate_finished_at": candidate.candidate_finished_at,
    }
    instance.report_runless_asset_event(
        AssetMaterialization("candidate_model", partition=candidate.config_name, metadata=metadata)
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


def test_champion_promotion_respects_margin(training_environment: TrainingEnvironment) -> None:
    url = training_environment.env["DATABASE_URL"]
    _report(training_environment, _candidate("first", 0.80))
    _report(training_environment, _candidate("weaker", 0.75))
    result = run_in_process(training_environment.instance, champion_job)
    summary = result.output_for_node("champion_model")
    assert (summary["config_name"], summary["promoted"]) == ("first", True)
    assert summary["reason"].startswith("first champion: first")

    # A better candidate that does not clear the margin is registered, not promoted.
    margin = {"resources": {"training_policy": {"config": {"promotion_margin": 0.05}}}}
    _report(training_environment, _candidate("slightly-better", 0.82))
    job = champion_job
    summary = run_in_process(training_environment.instance, job, margin).output_for_node(
        "champion_model"
    )
    assert (summary["config_name"], summary["promoted"]) == ("slightly-better", False)
    assert "margin 0.05" in summary["reason"]

    _report(training_environment, _candidate("much-better", 0.95))
    summary = run_in_process(training_environment.instance, job, margin).output_for_node(
        "champion_model"
    )
    assert (summary["config_name"], summary["promoted"]) == ("much-better", True)
    with psycopg.connect(url) as conn:
        champion = current_champion(conn)
        assert [m.training_config["config_name"] for m in list_models(conn)] == [
            "first",
            "slightly-better",
            "much-better",
        ]
        assert len(promotion_history(conn)) == 2
    assert champion is not None
    assert champion.model.metrics["auc"] == 0.95
    assert "vs champion v1" in champion.reason


def test_rerunning_champion_does_not_register_twice(
    training_environment: TrainingEnvironment,
) -> None:
    _report(training_environment, _candidate("only", 0.7))
    run_in_process(training_environment.instance, champion_job)
    again = run_in_process(training_environment.instance, champion_job)
    summary = again.output_for_node("champion_model")
    assert summary["promoted"] is False
    assert "already champion" in summary["reason"]
    with psycopg.connect(training_environment.env["DATABASE_URL"]) as conn:
        assert len(list_models(conn)) == 1


def test_no_successful_candidate_fails_clearly(training_environment: TrainingEnvironment) -> None:
    training_environment.instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, ["a", "b"])
    with pytest.raises(PipelineStepError, match="no candidate of the 2 configs"):
        run_in_process(training_environment.instance, champion_job)

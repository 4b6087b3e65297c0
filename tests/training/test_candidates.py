"""One run trains a range of config partitions: a partial failure and a run-wide one (real H2O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, materialize
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.candidates import candidate_model
from assets.definitions import defs
from assets.jobs import features_job, prepare_training_job
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from assets.pipeline import candidate_outcome, run_in_process
from resources.environments import get_resources
from resources.h2o import H2OResource
from shared.net import free_port
from tests.training.conftest import TrainingEnvironment

pytestmark = pytest.mark.h2o

GLM = "glm-alpha0.5"
GHOST = "glm-ghost"  # a partition left from an older matrix: not in the current one


@pytest.fixture
def prepared(
    h2o_cluster: Any,
    training_environment: TrainingEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> TrainingEnvironment:
    """Features, training frame and a one-config matrix materialized, plus a stale partition."""
    matrix = tmp_path / "configs.yaml"
    matrix.write_text("glm:\n  family: binomial\n  alpha: [0.5]\n")
    monkeypatch.setenv("CONVERGE_MODEL_CONFIGS", str(matrix))
    instance = training_environment.instance
    config = {"ops": {"ingest_features": {"config": {"demo_entities": 300}}}}
    run_in_process(instance, features_job, config)
    run_in_process(instance, prepare_training_job)
    instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, [GHOST])
    return training_environment


def _train_range(environment: TrainingEnvironment, resources: dict[str, Any]) -> str:
    upstream = [a for a in defs.assets or [] if a not in (candidate_model,)]
    result = materialize(
        [*upstream, candidate_model],  # type: ignore[list-item]
        selection=[candidate_model],
        instance=environment.instance,
        resources=resources,
        tags={ASSET_PARTITION_RANGE_START_TAG: GLM, ASSET_PARTITION_RANGE_END_TAG: GHOST},
        raise_on_error=False,
    )
    assert not result.success
    return result.run_id


def test_a_failing_config_fails_the_step_after_the_others_are_materialized(
    prepared: TrainingEnvironment,
) -> None:
    run_id = _train_range(prepared, get_resources())
    outcome = candidate_outcome(prepared.instance, [run_id], [GLM, GHOST])
    assert outcome.trained == [GLM]
    assert list(outcome.failures) == [GHOST]
    assert "not in the current matrix ['glm-alpha0.5']" in outcome.failures[GHOST]
    (failure,) = prepared.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    assert failure.dagster_event is not None
    data = failure.dagster_event.step_failure_data.user_failure_data
    assert data is not None
    assert data.description == (
        f"1 of 2 configs failed:\n- {GHOST}: config {GHOST!r} is not in the current matrix "
        f"['{GLM}']; materialize model_configs first"
    )


def test_a_run_wide_error_fails_every_config_of_the_run_with_its_cause(
    prepared: TrainingEnvironment,
) -> None:
    unreachable = H2OResource(url=f"http://127.0.0.1:{free_port()}")
    run_id = _train_range(prepared, {**get_resources(), "h2o": unreachable})
    outcome = candidate_outcome(prepared.instance, [run_id], [GLM, GHOST])
    assert outcome.trained == []
    assert set(outcome.failures) == {GLM, GHOST}
    assert outcome.failures[GLM] == outcome.failures[GHOST]
    assert "H2OConnectionError" in outcome.failures[GLM]

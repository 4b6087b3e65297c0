"""Features into PostgreSQL and the point-in-time training frame, through the real assets."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetCheckEvaluation, DagsterEventType

from assets.definitions import defs
from assets.demo_data import NEW_KEY_SNAPSHOT, SNAPSHOT_EVERY, START, generate_demo_data
from assets.jobs import features_job, prepare_training_job
from assets.pipeline import PipelineStepError, run_in_process
from tests.training.conftest import TrainingEnvironment

ENTITIES = 300
FEATURES_CONFIG = {"ops": {"ingest_features": {"config": {"demo_entities": ENTITIES}}}}


def _check(result: object, name: str) -> AssetCheckEvaluation:
    for event in result.all_events:  # type: ignore[attr-defined]
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.check_name == name:
                return evaluation  # type: ignore[no-any-return]
    raise AssertionError(f"check {name} did not run")


def test_demo_generator_is_deterministic() -> None:
    first, second = generate_demo_data(50, seed=3), generate_demo_data(50, seed=3)
    pd.testing.assert_frame_equal(first.features, second.features)
    pd.testing.assert_frame_equal(first.labels, second.labels)
    assert not generate_demo_data(50, seed=4).labels.equals(first.labels)


def test_training_frame_is_point_in_time(training_environment: TrainingEnvironment) -> None:
    instance = training_environment.instance
    ingest = run_in_process(instance, features_job, FEATURES_CONFIG)
    run_in_process(instance, prepare_training_job)
    frame = defs.load_asset_value("training_frame", instance=instance)
    assert isinstance(frame, pd.DataFrame)

    demo = generate_demo_data(ENTITIES)
    assert len(frame) == ENTITIES
    # Each label sees the snapshot taken 12 h before it, never the later ones.
    snapshot_time = frame["event_timestamp"] - pd.Timedelta(hours=12)
    keys = pd.MultiIndex.from_arrays([frame["entity_id"], snapshot_time])
    expected = demo.features.set_index(["entity_id", "event_timestamp"])["monthly_usage"][keys]
    assert frame["monthly_usage"].tolist() == expected.tolist()
    # The key introduced later is missing for labels before it existed, present after.
    before = frame["event_timestamp"] < START + NEW_KEY_SNAPSHOT * SNAPSHOT_EVERY
    assert frame.loc[before, "app_sessions"].isna().all()
    assert frame.loc[~before, "app_sessions"].notna().all()
    assert set(frame["split"]) == {"train", "valid"}
    assert all(isinstance(value, str) for value in frame["segment"])

    assert _check(ingest, "features_row_counts").passed
    drift = _check(ingest, "features_drift")
    assert not drift.passed
    events = drift.metadata["drift_events"].value
    assert isinstance(events, list)
    assert any("app_sessions" in item for item in events)


def test_reingest_is_idempotent(training_environment: TrainingEnvironment) -> None:
    instance = training_environment.instance
    run_in_process(instance, features_job, FEATURES_CONFIG)
    again = run_in_process(instance, features_job, FEATURES_CONFIG)
    counts = again.output_for_node("ingest_features", "features")
    assert counts["rows_written"] == 0
    assert counts["rows_duplicate"] == counts["rows_read"] == ENTITIES * 4


def test_missing_label_column_fails_with_its_name(
    training_environment: TrainingEnvironment, tmp_path: pytest.TempPathFactory
) -> None:
    source = tmp_path / "no_labels.csv"  # type: ignore[operator]
    pd.DataFrame(
        {"entity_id": ["a"], "event_timestamp": ["2026-01-01T00:00:00Z"], "x": [1.0]}
    ).to_csv(source, index=False)
    config = {"ops": {"ingest_features": {"config": {"source_path": str(source)}}}}
    with pytest.raises(PipelineStepError, match=r"missing column\(s\) \['label'\]"):
        run_in_process(training_environment.instance, features_job, config)

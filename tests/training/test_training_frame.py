"""Features into PostgreSQL and the point-in-time training frame, through the real assets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DagsterInstance,
    ExecuteInProcessResult,
    TimestampMetadataValue,
)

from assets.definitions import defs
from assets.demo_data import NEW_KEY_SNAPSHOT, SNAPSHOT_EVERY, START, generate_demo_data
from assets.jobs import features_job, prepare_training_job
from assets.pipeline import PipelineStepError, run_in_process
from shared.feature_store import ingest_frame
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


def test_first_ingest_is_the_drift_baseline_and_a_later_new_key_is_drift(
    training_environment: TrainingEnvironment, tmp_path: Path
) -> None:
    instance = training_environment.instance
    first = run_in_process(instance, features_job, FEATURES_CONFIG)
    baseline = _check(first, "features_drift")
    assert baseline.passed, baseline.metadata
    assert baseline.metadata["baseline"].value is True
    assert baseline.metadata["drift_events"].value == []
    (features,) = first.asset_materializations_for_node("ingest_features")[:1]
    assert isinstance(features.metadata["ingest_started_at"], TimestampMetadataValue)

    # A later file brings a key the baseline does not have (at an event time inside the demo's
    # span, so that no other key looks as if it stopped arriving).
    source = tmp_path / "later.csv"
    pd.DataFrame(
        {
            "entity_id": ["customer-000001"],
            "event_timestamp": [(START + SNAPSHOT_EVERY).isoformat()],
            "label": [1],
            "loyalty_points": [120.0],
        }
    ).to_csv(source, index=False)
    later = run_in_process(
        instance,
        features_job,
        {"ops": {"ingest_features": {"config": {"source_path": str(source)}}}},
    )
    drift = _check(later, "features_drift")
    assert not drift.passed
    assert drift.metadata["baseline"].value is False
    assert drift.metadata["drift_events"].value == [
        f"new_key: loyalty_points (first_seen={(START + SNAPSHOT_EVERY).isoformat()}, "
        "value_type=number)"
    ]


def _frame_of(result: ExecuteInProcessResult) -> tuple[pd.DataFrame, str]:
    """The training frame a run built and the `as_of` its metadata records (ISO-8601)."""
    frame = result.output_for_node("training_frame")
    (materialization,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key.path == ["training_frame"]
    ]
    metadata = materialization.materialization.metadata
    as_of = metadata["as_of"]
    assert isinstance(as_of, TimestampMetadataValue)
    iso = str(metadata["as_of_iso"].value)
    assert datetime.fromisoformat(iso).timestamp() == pytest.approx(as_of.value, abs=1e-6)
    return frame, iso


def _rebuild(instance: DagsterInstance, as_of: str | None) -> ExecuteInProcessResult:
    config = {} if as_of is None else {"ops": {"training_frame": {"config": {"as_of": as_of}}}}
    return run_in_process(instance, prepare_training_job, config)


def test_a_frame_rebuilt_at_its_as_of_ignores_a_late_backfill(
    training_environment: TrainingEnvironment,
) -> None:
    instance = training_environment.instance
    run_in_process(instance, features_job, FEATURES_CONFIG)
    built, as_of = _frame_of(_rebuild(instance, None))

    # A late backfill: a row whose event time lies between a label's snapshot and the label, so
    # a point-in-time read that does not bound ingestion time picks it up.
    row = built.iloc[0]
    late = pd.DataFrame(
        {
            "entity_id": [row["entity_id"]],
            "event_timestamp": [row["event_timestamp"] - pd.Timedelta(hours=1)],
            "monthly_usage": [-1.0],
        }
    )
    with psycopg.connect(training_environment.env["DATABASE_URL"]) as conn:
        summary = ingest_frame(conn, late, "entity_id", "event_timestamp", "late-backfill")
    assert summary.rows_written == 1
    assert row["event_timestamp"] - pd.Timedelta(hours=1) < datetime.fromisoformat(as_of)

    rebuilt, recorded = _frame_of(_rebuild(instance, as_of))
    assert recorded == as_of
    pd.testing.assert_frame_equal(rebuilt, built)

    # Read now, the same label sees the backfilled row: the bound is what kept the frame equal.
    fresh, _ = _frame_of(_rebuild(instance, None))
    assert fresh.loc[0, "monthly_usage"] == -1.0
    assert built.loc[0, "monthly_usage"] != -1.0
    pd.testing.assert_frame_equal(fresh.drop(index=0), built.drop(index=0))


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("yesterday", r"as_of: 'yesterday' is not an ISO-8601 instant"),
        ("2026-01-01T00:00:00", r"as_of: '2026-01-01T00:00:00' has no time zone"),
        ("2999-01-01T00:00:00+00:00", r"as_of: 2999-01-01T00:00:00\+00:00 is after the feature"),
    ],
)
def test_a_bad_as_of_fails_naming_it(
    training_environment: TrainingEnvironment, as_of: str, message: str
) -> None:
    run_in_process(training_environment.instance, features_job, FEATURES_CONFIG)
    with pytest.raises(PipelineStepError, match=message):
        _rebuild(training_environment.instance, as_of)


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

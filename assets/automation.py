"""Schedules and sensors: daily features, weekly retraining, retraining on new rows, fan-out."""

from datetime import UTC, datetime

from dagster import (
    AssetKey,
    EventLogEntry,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_sensor,
    sensor,
)

from assets.jobs import candidate_job, features_job, prepare_training_job
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from resources.postgres import PostgresResource
from resources.training_policy import TrainingPolicy
from shared.feature_store import count_rows_ingested_since

daily_features_schedule = ScheduleDefinition(
    name="daily_features", job=features_job, cron_schedule="0 2 * * *", execution_timezone="UTC"
)
weekly_retraining_schedule = ScheduleDefinition(
    name="weekly_retraining",
    job=prepare_training_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
)


@sensor(job=prepare_training_job, minimum_interval_seconds=300)
def new_feature_rows_sensor(
    context: SensorEvaluationContext, postgres: PostgresResource, training_policy: TrainingPolicy
) -> SensorResult | SkipReason:
    """Retrain once `retrain_after_new_rows` feature rows arrived since the last trigger."""
    now = datetime.now(UTC)
    if not context.cursor:
        return SensorResult(skip_reason="first evaluation: counting from now", cursor=str(now))
    since = datetime.fromisoformat(context.cursor)
    with postgres.connect() as conn:
        arrived = count_rows_ingested_since(conn, since)
    if arrived < training_policy.retrain_after_new_rows:
        return SkipReason(
            f"{arrived} new feature rows since {since.isoformat()}; "
            f"retraining needs {training_policy.retrain_after_new_rows}"
        )
    return SensorResult(
        run_requests=[RunRequest(run_key=f"new-rows-{now.isoformat()}")], cursor=now.isoformat()
    )


@asset_sensor(asset_key=AssetKey("model_configs"), job=candidate_job)
def candidate_fanout_sensor(
    context: SensorEvaluationContext, asset_event: EventLogEntry
) -> SensorResult:
    """After the config matrix is materialized, queue one candidate run per config partition."""
    configs = context.instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS)
    return SensorResult(
        run_requests=[
            RunRequest(partition_key=name, run_key=f"{asset_event.timestamp}-{name}")
            for name in configs
        ]
    )

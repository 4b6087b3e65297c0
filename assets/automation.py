"""Schedules and sensors: daily features, weekly retraining, retraining on new rows, fan-out."""

from datetime import UTC, datetime

from dagster import (
    AssetKey,
    AssetSelection,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.fanout import candidate_subset
from assets.jobs import features_job, prepare_training_job
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from resources.postgres import PostgresResource
from resources.training_policy import TrainingPolicy
from shared.feature_store import count_rows_ingested_since

MODEL_CONFIGS_ASSET = AssetKey("model_configs")

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


@sensor(asset_selection=AssetSelection.assets("candidate_model"), minimum_interval_seconds=30)
def candidate_fanout_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """After the config matrix is materialized, launch the fan-out backfill over its partitions."""
    latest = context.instance.fetch_materializations(MODEL_CONFIGS_ASSET, limit=1).records
    if not latest:
        return SkipReason("model_configs was never materialized")
    storage_id = latest[0].storage_id
    if context.cursor and int(context.cursor) >= storage_id:
        return SkipReason(f"no model_configs materialization after storage id {context.cursor}")
    configs = context.instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS)
    return SensorResult(
        run_requests=[RunRequest.for_asset_graph_subset(candidate_subset(configs), tags={})],
        cursor=str(storage_id),
    )

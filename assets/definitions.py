"""The code location: assets, checks, jobs, schedules, sensors and this environment's resources."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from assets.automation import (
    candidate_fanout_sensor,
    daily_features_schedule,
    new_feature_rows_sensor,
    weekly_retraining_schedule,
)
from assets.candidates import candidate_model
from assets.champion import champion_automation_sensor, champion_metric_floor, champion_model
from assets.features import features_drift, features_row_counts, ingest_features
from assets.jobs import champion_job, features_job, prepare_training_job
from assets.model_configs import model_configs
from assets.training_frame import training_frame, training_frame_rows
from resources.environments import get_resources

defs = Definitions(
    assets=[ingest_features, training_frame, model_configs, candidate_model, champion_model],
    asset_checks=[features_row_counts, features_drift, training_frame_rows, champion_metric_floor],
    jobs=[features_job, prepare_training_job, champion_job],
    schedules=[daily_features_schedule, weekly_retraining_schedule],
    sensors=[new_feature_rows_sensor, candidate_fanout_sensor, champion_automation_sensor],
    resources=get_resources(),
    # Every run is a handful of sequential steps: running them in the run process saves a step
    # subprocess (seconds of imports) per step; the fan-out's parallelism is runs, not steps.
    executor=in_process_executor,
)

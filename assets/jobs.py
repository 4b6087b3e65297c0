"""Asset jobs: the units that schedules, sensors and `converge demo` launch."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

features_job = define_asset_job(
    "features_job", selection=AssetSelection.assets("features", "labels")
)
prepare_training_job = define_asset_job(
    "prepare_training_job", selection=AssetSelection.assets("training_frame", "model_configs")
)
# One run per config partition: the `h2o_training` pool (run granularity) limits how many run.
# The run holds a single step: executing it in the run process saves a step subprocess (~5 s).
candidate_job = define_asset_job(
    "candidate_job",
    selection=AssetSelection.assets("candidate_model"),
    executor_def=in_process_executor,
)
champion_job = define_asset_job("champion_job", selection=AssetSelection.assets("champion_model"))

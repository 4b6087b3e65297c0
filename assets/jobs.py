"""Asset jobs: the units that schedules, sensors and `converge demo` launch.

The candidate fan-out is not a job: it is an asset backfill of `candidate_model` (`assets.fanout`),
and the champion follows it through its automation condition (`assets.champion`).
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

features_job = define_asset_job(
    "features_job", selection=AssetSelection.assets("features", "labels")
)
prepare_training_job = define_asset_job(
    "prepare_training_job", selection=AssetSelection.assets("training_frame", "model_configs")
)
champion_job = define_asset_job("champion_job", selection=AssetSelection.assets("champion_model"))

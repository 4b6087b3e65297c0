"""Candidate models, one partition per config, trained several per run in the `h2o_training` pool.

A run gets a range of config partitions (the backfill policy of `assets.fanout`), connects to H2O
and uploads the training frame once, then trains the configs back to back. Each config that passes
is reported at once as a materialization of its own partition; a config that fails is logged and
the step fails at the end naming every failed config, so Dagster marks exactly those partitions
failed while the others stay materialized for the champion.
"""

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetMaterialization, Failure, MetadataValue, asset

from assets.fanout import candidate_backfill_policy
from assets.groups import TRAIN
from assets.h2o_training import (
    CandidateTrainingError,
    TrainedCandidate,
    train_candidate,
    upload_frames,
)
from assets.model_configs import ModelConfig, model_config_partitions
from resources.artifact_store import ArtifactStoreResource
from resources.environments import get_training_policy
from resources.h2o import H2OResource
from resources.training_policy import TRAINING_POOL
from shared.artifacts import StoredArtifact
from shared.parity import ParityError

# The step failure's metadata key holding {config: error}; `assets.pipeline` reads it back.
FAILED_CONFIGS = "failed_configs"


def candidate_metadata(
    config: ModelConfig, trained: TrainedCandidate, stored: StoredArtifact, stored_at: float
) -> dict[str, Any]:
    """What a candidate partition records: config, metrics, artifact, timings (the UI shows it).

    `algo` is the MOJO's algorithm; `training_config.algo` the config's (`automl` for an AutoML
    run, with its leader's algorithm and model id beside, and its leaderboard as a table).
    """
    training_config: dict[str, Any] = {"algo": config.algo, **config.params}
    automl: dict[str, Any] = {}
    if trained.automl is not None:
        training_config |= {
            "leader_algo": trained.algo,
            "leader_model_id": trained.automl.leader_model_id,
        }
        automl = {"leaderboard": MetadataValue.md(trained.automl.leaderboard)}
    return {
        "config_name": config.name,
        "algo": trained.algo,
        "training_config": MetadataValue.json(training_config),
        **automl,
        "metrics": MetadataValue.json(trained.metrics),
        **{f"metric_{key}": value for key, value in trained.metrics.items()},
        "artifact_uri": MetadataValue.url(stored.uri),
        "artifact_sha256": stored.sha256,
        "artifact_size_bytes": stored.size_bytes,
        "h2o_version": trained.h2o_version,
        "feature_list": MetadataValue.json(trained.feature_list),
        "parity_max_abs_diff": trained.parity_max_abs_diff,
        "training_started_at": MetadataValue.timestamp(trained.started_at),
        "training_finished_at": MetadataValue.timestamp(trained.trained_at),
        "training_seconds": trained.trained_at - trained.started_at,
        # From training start to the stored MOJO: the time the pool slot works on this config.
        "candidate_finished_at": MetadataValue.timestamp(stored_at),
        "candidate_seconds": stored_at - trained.started_at,
        "train_rows": trained.train_rows,
        "valid_rows": trained.valid_rows,
    }


def failure_of(failures: dict[str, str], trained: int) -> Failure:
    """The step's failure naming every failed config and its reason."""
    lines = "\n".join(f"- {name}: {reason}" for name, reason in failures.items())
    return Failure(
        description=f"{len(failures)} of {len(failures) + trained} configs failed:\n{lines}",
        metadata={FAILED_CONFIGS: MetadataValue.json(failures)},
    )


@asset(
    partitions_def=model_config_partitions,
    pool=TRAINING_POOL,
    backfill_policy=candidate_backfill_policy(get_training_policy()),
    output_required=False,
    group_name=TRAIN,
)
def candidate_model(
    context: AssetExecutionContext,
    training_frame: pd.DataFrame,
    model_configs: dict[str, ModelConfig],
    h2o: H2OResource,
    artifact_store: ArtifactStoreResource,
) -> Iterator[AssetMaterialization]:
    """Train the run's configs back to back; store each MOJO by sha256 with metrics and timings."""
    store = artifact_store.open()
    failures: dict[str, str] = {}
    trained_count = 0
    with h2o.session(owner=f"candidate_{context.run.run_id[:8]}") as session:
        frames = upload_frames(session, training_frame)
        for name in context.partition_keys:
            if name not in model_configs:
                failures[name] = (
                    f"config {name!r} is not in the current matrix {sorted(model_configs)}; "
                    "materialize model_configs first"
                )
                continue
            config = model_configs[name]
            with tempfile.TemporaryDirectory(prefix="converge-candidate-") as workdir:
                try:
                    trained = train_candidate(session, config, frames, Path(workdir))
                except (CandidateTrainingError, ParityError) as exc:
                    failures[name] = f"{type(exc).__name__}: {exc}"
                    context.log.error(f"{name} failed: {failures[name]}")
                    continue
                stored = store.put_file(trained.mojo_path)
            metadata = candidate_metadata(config, trained, stored, stored_at=time.time())
            trained_count += 1
            # No log line besides: the materialization shows the same in the run's event log,
            # and each event written costs the pool slot ~12 ms between configs.
            yield AssetMaterialization(
                asset_key=context.asset_key, partition=name, metadata=metadata
            )
    if failures:
        raise failure_of(failures, trained_count)

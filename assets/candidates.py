"""One candidate model per config partition, trained in the `h2o_training` pool."""

import tempfile
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.h2o_training import train_candidate
from assets.model_configs import ModelConfig, model_config_partitions
from resources.artifact_store import ArtifactStoreResource
from resources.h2o import H2OResource
from resources.training_policy import TRAINING_POOL


@asset(
    partitions_def=model_config_partitions,
    pool=TRAINING_POOL,
    group_name="candidates",
)
def candidate_model(
    context: AssetExecutionContext,
    training_frame: pd.DataFrame,
    model_configs: dict[str, ModelConfig],
    h2o: H2OResource,
    artifact_store: ArtifactStoreResource,
) -> MaterializeResult[None]:
    """Train the partition's config, store its MOJO by sha256 and record metrics and timings."""
    name = context.partition_key
    if name not in model_configs:
        raise KeyError(
            f"config {name!r} is not in the current matrix {sorted(model_configs)}; "
            "materialize model_configs first"
        )
    config = model_configs[name]
    with tempfile.TemporaryDirectory(prefix="converge-candidate-") as workdir:
        with h2o.session(owner=f"candidate_{context.run_id[:8]}") as session:
            trained = train_candidate(session, config, training_frame, Path(workdir))
        stored = artifact_store.open().put_file(trained.mojo_path)
    context.log.info(f"{name}: {trained.metrics}; MOJO {stored.uri}")
    return MaterializeResult(
        metadata={
            "config_name": name,
            "algo": config.algo,
            "training_config": MetadataValue.json({"algo": config.algo, **config.params}),
            "metrics": MetadataValue.json(trained.metrics),
            **{f"metric_{key}": value for key, value in trained.metrics.items()},
            "artifact_uri": stored.uri,
            "artifact_sha256": stored.sha256,
            "artifact_size_bytes": stored.size_bytes,
            "h2o_version": trained.h2o_version,
            "feature_list": MetadataValue.json(trained.feature_list),
            "parity_max_abs_diff": trained.parity_max_abs_diff,
            "training_started_at": trained.started_at,
            "training_finished_at": trained.finished_at,
            "training_seconds": trained.finished_at - trained.started_at,
            "train_rows": trained.train_rows,
            "valid_rows": trained.valid_rows,
        }
    )

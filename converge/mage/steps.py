"""The work of each Mage block, run in converge's virtualenv with the Dagster path's own code.

Mage 0.9.80 needs its own virtualenv (its pins would downgrade converge's stack), so its blocks
call `converge mage step NAME` here: the training frame, the training of one config and the
champion rule are the very functions and resources the Dagster assets use, not copies. Blocks
exchange JSON; the training frame stays in the run's work folder as Parquet.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import Output

from assets.h2o_training import train_candidate, upload_frames
from assets.holdout import Holdout
from assets.model_configs import ModelConfig, load_model_configs
from assets.selection import select_champion
from assets.training_frame import training_frame
from resources.environments import get_resources
from shared.leaderboard import CandidateResult, leaderboard_markdown
from shared.registry import Orchestrator

LABELS_FILE = "labels.parquet"
FRAME_FILE = "training_frame.parquet"
CHAMPION_FILE = "champion.json"
ORCHESTRATOR: Orchestrator = "mage"


def load(workdir: Path) -> list[dict[str, Any]]:
    """Build the point-in-time training frame into `workdir`; return the config matrix."""
    resources = get_resources()
    policy = resources["training_policy"]
    labels = pd.read_parquet(workdir / LABELS_FILE)
    # The asset's own body, invoked directly: the same join, typing and split as in Dagster.
    built = training_frame(labels=labels, postgres=resources["postgres"], training_policy=policy)
    if not isinstance(built, Output):
        raise TypeError(f"training_frame returned {type(built).__name__}, expected an Output")
    built.value.to_parquet(workdir / FRAME_FILE, index=False)
    configs = load_model_configs(policy.configs_path())
    return [dataclasses.asdict(config) for config in configs]


def train(workdir: Path, config: ModelConfig) -> dict[str, Any]:
    """Train one config on H2O, check the MOJO's parity, store it by sha256; its result as JSON.

    Raises CandidateTrainingError or ParityError (the caller reports them) as the asset does.
    """
    resources = get_resources()
    frame = pd.read_parquet(workdir / FRAME_FILE)
    store = resources["artifact_store"].open()
    with resources["h2o"].session(owner=f"mage_{config.name}") as session:
        frames = upload_frames(session, frame)
        with tempfile.TemporaryDirectory(prefix="converge-mage-candidate-") as folder:
            trained = train_candidate(session, config, frames, Path(folder))
            stored = store.put_file(trained.mojo_path)
    training_config: dict[str, Any] = {"algo": config.algo, **config.params}
    if trained.automl is not None:
        training_config |= {
            "leader_algo": trained.algo,
            "leader_model_id": trained.automl.leader_model_id,
        }
    result = CandidateResult(
        config_name=config.name,
        algo=trained.algo,
        metrics=trained.metrics,
        artifact_uri=stored.uri,
        artifact_sha256=stored.sha256,
        h2o_version=trained.h2o_version,
        feature_list=trained.feature_list,
        training_config=training_config,
        training_started_at=trained.started_at,
        training_finished_at=trained.trained_at,
        candidate_finished_at=time.time(),
    )
    return dataclasses.asdict(result)


def reduce(workdir: Path, candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """Rank the candidates, register the best as `mage`, promote it by the champion rule."""
    if not candidates:
        raise ValueError("no candidate was trained successfully: nothing to select from")
    resources = get_resources()
    policy, registry = resources["training_policy"], resources["model_registry"]
    store = resources["artifact_store"].open()
    holdout = Holdout.of(pd.read_parquet(workdir / FRAME_FILE))
    results = [CandidateResult(**candidate) for candidate in candidates]
    selected = select_champion(results, policy, registry, store, holdout, ORCHESTRATOR)
    metric, best, ranked = policy.metric, selected.best, selected.ranked
    record, decision, value = selected.record, selected.decision, selected.value
    summary = {
        "model_version": record.model_version,
        "config_name": best.config_name,
        "metric": metric,
        "value": value,
        "incumbent_value": decision.incumbent_value,
        "floor_passed": decision.floor_passed,
        "promoted": decision.promoted,
        "reason": decision.reason,
        "candidates": [c.config_name for c in ranked],
        "leaderboard": leaderboard_markdown(ranked, metric),
    }
    (workdir / CHAMPION_FILE).write_text(json.dumps(summary, indent=2))
    return summary

"""Candidate results read back from Dagster (ranked by `shared.leaderboard`, re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from shared.leaderboard import CandidateResult, leaderboard_markdown, rank

CANDIDATE_ASSET = AssetKey("candidate_model")
__all__ = [
    "CANDIDATE_ASSET",
    "CandidateResult",
    "latest_candidates",
    "leaderboard_markdown",
    "rank",
]


def _result(metadata: dict[str, Any]) -> CandidateResult:
    values = {key: value.value for key, value in metadata.items()}
    return CandidateResult(
        config_name=str(values["config_name"]),
        algo=str(values["algo"]),
        metrics=dict(values["metrics"]),
        artifact_uri=str(values["artifact_uri"]),
        artifact_sha256=str(values["artifact_sha256"]),
        h2o_version=str(values["h2o_version"]),
        feature_list=list(values["feature_list"]),
        training_config=dict(values["training_config"]),
        training_started_at=float(values["training_started_at"]),
        training_finished_at=float(values["training_finished_at"]),
        candidate_finished_at=float(values["candidate_finished_at"]),
    )


def latest_candidates(
    instance: DagsterInstance, partitions: Sequence[str]
) -> dict[str, CandidateResult]:
    """The newest successful materialization of each partition in `partitions` (absent: none)."""
    found: dict[str, CandidateResult] = {}
    if not partitions:
        return found
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=CANDIDATE_ASSET, asset_partitions=list(partitions)),
        limit=10_000,
    ).records
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization is None or record.partition_key in found:
            continue
        found[str(record.partition_key)] = _result(dict(materialization.metadata))
    return found

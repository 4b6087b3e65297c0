"""The champion step every orchestrator runs: rank, register the best, rescore, decide, promote.

The Dagster `champion_model` asset and the Mage reducer (`converge mage step reduce`) call this
one function, so both select, register and promote exactly the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from assets.holdout import Holdout, HoldoutError, HoldoutScores, rescore
from shared.artifacts import ArtifactStore
from shared.champion_rule import Decision, PromotionPolicy, decide, new_model
from shared.leaderboard import CandidateResult, rank
from shared.registry import Champion, ModelRecord, NewModel, Orchestrator


class Registry(Protocol):
    """What the step needs of the registry (`resources.registry.ModelRegistryResource`)."""

    def register(self, new: NewModel) -> ModelRecord: ...

    def champion(self) -> Champion | None: ...

    def promote(self, model_version: int, reason: str) -> Champion: ...


@dataclass(frozen=True)
class Selection:
    """What the step did: the ranking, the registered best, its holdout value (and ROC curve when
    binomial) and the decision."""

    ranked: list[CandidateResult]
    best: CandidateResult
    value: float
    roc: pd.DataFrame | None
    record: ModelRecord
    decision: Decision


def select_champion(
    candidates: Sequence[CandidateResult],
    policy: PromotionPolicy,
    registry: Registry,
    store: ArtifactStore,
    holdout: Holdout,
    orchestrator: Orchestrator,
) -> Selection:
    """Register the best candidate and promote it when the champion rule says so."""
    metric = policy.metric
    ranked = rank(list(candidates), metric)
    best = ranked[0]

    def holdout_value(scores: HoldoutScores, who: str) -> float:
        if metric not in scores.metrics:
            raise HoldoutError(f"{who}: no {metric} on the validation split (got {scores.metrics})")
        return scores.metrics[metric]

    scores = rescore(store, best.artifact_uri, best.artifact_sha256, holdout)
    value = holdout_value(scores, best.config_name)
    record = registry.register(new_model(best, ranked, orchestrator))
    decision = decide(
        policy,
        best,
        value,
        record.model_version,
        registry.champion(),
        lambda current: holdout_value(
            rescore(store, current.model.artifact_uri, current.model.artifact_sha256, holdout),
            f"champion v{current.model.model_version}",
        ),
    )
    if decision.promoted:
        registry.promote(record.model_version, decision.reason)
    return Selection(ranked, best, value, scores.roc, record, decision)

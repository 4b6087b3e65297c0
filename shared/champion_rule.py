"""The champion rule for every orchestrator: the floor gates, then a margin over the incumbent."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import JsonValue

from shared.leaderboard import CandidateResult
from shared.registry import Champion, NewModel, Orchestrator, current_git_commit


class PromotionPolicy(Protocol):
    """What the rule needs of a training policy (`resources.training_policy.TrainingPolicy`)."""

    @property
    def metric(self) -> str: ...

    @property
    def metric_floor(self) -> float: ...

    @property
    def promotion_margin(self) -> float: ...

    def better(self, value: float, than: float, margin: float = 0.0) -> bool: ...


@dataclass(frozen=True)
class Decision:
    """Whether the challenger becomes champion, and why."""

    promoted: bool
    reason: str
    floor_passed: bool
    incumbent_value: float | None = None


def reaches_floor(policy: PromotionPolicy, value: float) -> bool:
    """Whether `value` is on the right side of the policy's metric floor (or on it)."""
    return policy.better(value, policy.metric_floor) or value == policy.metric_floor


def decide(
    policy: PromotionPolicy,
    best: CandidateResult,
    value: float,
    record_version: int,
    current: Champion | None,
    incumbent_value: Callable[[Champion], float],
) -> Decision:
    """Gate, then compare: the floor blocks promotion; an incumbent is rescored on the same rows.

    `value` is the challenger's metric on the current validation split; `incumbent_value` gives
    the incumbent's on the same split, from its MOJO scored by the same runtime.
    """
    metric, floor = policy.metric, policy.metric_floor
    holdout = f"{metric}={value:.6f} on the current validation split"
    passed = reaches_floor(policy, value)
    if current is not None and current.model.model_version == record_version:
        return Decision(False, f"model_version {record_version} is already champion", passed)
    if not passed:
        reason = f"{best.config_name} {holdout} does not reach the metric floor {floor}"
        return Decision(False, reason, passed)
    if current is None:
        return Decision(True, f"first champion: {best.config_name} {holdout}", True)
    previous = incumbent_value(current)
    margin = policy.promotion_margin
    reason = (
        f"{best.config_name} {holdout} vs champion v{current.model.model_version} "
        f"{metric}={previous:.6f} on the same rows (margin {margin})"
    )
    return Decision(policy.better(value, previous, margin), reason, True, previous)


def new_model(
    best: CandidateResult, ranked: Sequence[CandidateResult], orchestrator: Orchestrator
) -> NewModel:
    """The selected candidate's registry entry: which orchestrator trained it, and its fan-out's
    ranked leaderboard in the training config (GraphQL's `Model.leaderboard` reads it)."""
    leaderboard: list[JsonValue] = [
        {
            "rank": position,
            "config_name": candidate.config_name,
            "algo": candidate.algo,
            # JSONB has no NaN: a metric H2O could not compute is left out
            "metrics": {k: v for k, v in candidate.metrics.items() if math.isfinite(v)},
        }
        for position, candidate in enumerate(ranked, start=1)
    ]
    return NewModel(
        artifact_uri=best.artifact_uri,
        artifact_sha256=best.artifact_sha256,
        git_commit_sha=current_git_commit(),
        h2o_version=best.h2o_version,
        algo=best.algo,
        metrics=dict(best.metrics),
        training_config={
            "config_name": best.config_name,
            **best.training_config,
            "leaderboard": leaderboard,
        },
        feature_list=best.feature_list,
        orchestrator=orchestrator,
    )

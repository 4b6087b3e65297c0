"""Candidate results ranked into a leaderboard: one rule for every orchestrator (Dagster, Mage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Metrics where a larger value is better; every other metric is an error (lower is better).
HIGHER_IS_BETTER: frozenset[str] = frozenset({"auc"})


@dataclass(frozen=True)
class CandidateResult:
    """A trained candidate: its config, metrics, stored MOJO and timings."""

    config_name: str
    algo: str
    metrics: dict[str, float]
    artifact_uri: str
    artifact_sha256: str
    h2o_version: str
    feature_list: list[str]
    training_config: dict[str, Any]
    training_started_at: float
    training_finished_at: float
    candidate_finished_at: float


def rank(candidates: Sequence[CandidateResult], metric: str) -> list[CandidateResult]:
    """Best first by `metric`; ties go to the config name in alphabetical order."""
    missing = [c.config_name for c in candidates if metric not in c.metrics]
    if missing:
        raise ValueError(f"candidates {missing} have no {metric!r} metric")
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
    return sorted(candidates, key=lambda c: (sign * c.metrics[metric], c.config_name))


def leaderboard_markdown(
    ranked: Sequence[CandidateResult], metric: str, versions: Mapping[str, int] | None = None
) -> str:
    """The ranked candidates as a Markdown table.

    With `versions` (artifact sha256 -> registry version), a column says which registry version
    each candidate became (empty: not registered).
    """
    others = sorted({key for c in ranked for key in c.metrics} - {metric})
    header = ["rank", "config", "algo", metric, *others, "sha256"]
    if versions is not None:
        header.append("model_version")
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for position, c in enumerate(ranked, start=1):
        cells = [str(position), c.config_name, c.algo, f"{c.metrics[metric]:.6f}"]
        cells += [f"{c.metrics[key]:.6f}" if key in c.metrics else "" for key in others]
        cells.append(c.artifact_sha256[:12])
        if versions is not None:
            version = versions.get(c.artifact_sha256)
            cells.append("" if version is None else f"v{version}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

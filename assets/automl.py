"""The `automl` candidate's parameters and leaderboard: H2OAutoML as one config of the matrix."""

from __future__ import annotations

from typing import Any

import pandas as pd

# H2OAutoML's constructor arguments a config may set. `project_name` is converge's (the run's
# session owns the AutoML's keys); callbacks, checkpoint folders and verbosity are not config.
AUTOML_PARAMETERS = frozenset(
    {
        "nfolds",
        "balance_classes",
        "class_sampling_factors",
        "max_after_balance_size",
        "max_runtime_secs",
        "max_runtime_secs_per_model",
        "max_models",
        "distribution",
        "stopping_metric",
        "stopping_tolerance",
        "stopping_rounds",
        "seed",
        "exclude_algos",
        "include_algos",
        "exploitation_ratio",
        "modeling_plan",
        "preprocessing",
        "monotone_constraints",
        "keep_cross_validation_predictions",
        "keep_cross_validation_models",
        "keep_cross_validation_fold_assignment",
        "sort_metric",
    }
)
# H2O accepts any text as sort_metric and then fails every model ("too many consecutive model
# failures") without naming it: checked here so the message names the key.
SORT_METRICS = frozenset(
    {"AUTO", "deviance", "logloss", "MSE", "RMSE", "MAE", "RMSLE", "AUC", "AUCPR"}
    | {"mean_per_class_error"}
)


class AutoMLParameterError(ValueError):
    """An `automl` config parameter H2OAutoML does not take; the message names the key."""


def automl_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The H2OAutoML keyword arguments of an `automl` config, refused naming the bad key."""
    unknown = sorted(set(params) - AUTOML_PARAMETERS)
    if unknown:
        known = ", ".join(sorted(AUTOML_PARAMETERS))
        raise AutoMLParameterError(
            f"unknown AutoML parameter {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else "")
            + f"; H2OAutoML takes: {known}"
        )
    sort_metric = params.get("sort_metric")
    if sort_metric is not None and str(sort_metric).lower() not in {
        m.lower() for m in SORT_METRICS
    }:
        raise AutoMLParameterError(
            f"sort_metric {sort_metric!r} is not one of {', '.join(sorted(SORT_METRICS))}"
        )
    return dict(params)


def leaderboard_markdown(leaderboard: pd.DataFrame) -> str:
    """An AutoML leaderboard (model_id and metric columns, best first) as a Markdown table."""
    header = ["rank", *map(str, leaderboard.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for position, row in enumerate(leaderboard.itertuples(index=False), start=1):
        cells = [f"{v:.6f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join([str(position), *cells]) + " |")
    return "\n".join(lines)

"""Champion selection: best candidate by the configured metric, registered and maybe promoted."""

from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.candidates import candidate_model
from assets.leaderboard import CandidateResult, latest_candidates, leaderboard_markdown, rank
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from resources.registry import ModelRegistryResource
from resources.training_policy import TrainingPolicy
from shared.registry import NewModel, current_git_commit


def _new_model(best: CandidateResult) -> NewModel:
    return NewModel(
        artifact_uri=best.artifact_uri,
        artifact_sha256=best.artifact_sha256,
        git_commit_sha=current_git_commit(),
        h2o_version=best.h2o_version,
        algo=best.algo,
        metrics=dict(best.metrics),
        training_config={"config_name": best.config_name, **best.training_config},
        feature_list=best.feature_list,
    )


# After a fan-out: some candidate partition was materialized since the champion last ran, and no
# candidate is queued, running or still due in a backfill. Failed partitions do not block it
# (unlike `eager()`, which waits for missing dependencies): the champion comes from the others.
CHAMPION_AFTER_FANOUT = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after_candidate_fanout")


@asset(deps=[candidate_model], group_name="champion", automation_condition=CHAMPION_AFTER_FANOUT)
def champion_model(
    context: AssetExecutionContext,
    training_policy: TrainingPolicy,
    model_registry: ModelRegistryResource,
) -> Output[dict[str, Any]]:
    """Register the best candidate; promote it only if it beats the champion by the margin."""
    configs = context.instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS)
    candidates = latest_candidates(context.instance, configs)
    if not candidates:
        raise RuntimeError(f"no candidate of the {len(configs)} configs was trained successfully")
    metric = training_policy.metric
    ranked = rank(list(candidates.values()), metric)
    best = ranked[0]
    record = model_registry.register(_new_model(best))
    current = model_registry.champion()
    value = best.metrics[metric]
    if current is not None and current.model.model_version == record.model_version:
        promoted, reason = False, f"model_version {record.model_version} is already champion"
    elif current is None:
        promoted, reason = True, f"first champion: {best.config_name} with {metric}={value:.6f}"
    else:
        previous = current.model.metrics.get(metric)
        margin = training_policy.promotion_margin
        promoted = previous is None or training_policy.better(value, float(previous), margin)
        reason = (
            f"{best.config_name} {metric}={value:.6f} vs champion v{current.model.model_version} "
            f"{metric}={previous} (margin {margin})"
        )
    if promoted:
        model_registry.promote(record.model_version, reason)
    verdict = "promoted" if promoted else "not promoted"
    context.log.info(f"{verdict}: {reason}")
    missing = sorted(set(configs) - set(candidates))
    summary: dict[str, Any] = {
        "model_version": record.model_version,
        "config_name": best.config_name,
        "metric": metric,
        "value": value,
        "promoted": promoted,
        "reason": reason,
        "candidates": len(candidates),
        "failed_or_missing": missing,
    }
    return Output(
        summary,
        metadata={
            **{k: v for k, v in summary.items() if k != "failed_or_missing"},
            "failed_or_missing": MetadataValue.json(missing),
            "artifact_uri": best.artifact_uri,
            "artifact_sha256": best.artifact_sha256,
            "leaderboard": MetadataValue.md(leaderboard_markdown(ranked, metric)),
        },
    )


@asset_check(asset=champion_model, description="The champion reaches the configured metric floor.")
def champion_metric_floor(
    champion_model: dict[str, Any], training_policy: TrainingPolicy
) -> AssetCheckResult:
    """Fails when the selected model's metric is on the wrong side of `metric_floor`."""
    value, floor = float(champion_model["value"]), training_policy.metric_floor
    return AssetCheckResult(
        passed=training_policy.better(value, floor) or value == floor,
        metadata={"metric": champion_model["metric"], "value": value, "floor": floor},
    )


champion_automation_sensor = AutomationConditionSensorDefinition(
    "champion_automation_sensor",
    target=AssetSelection.assets(champion_model),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Selects the champion once a candidate fan-out has finished.",
)

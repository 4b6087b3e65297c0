"""Champion selection: best candidate by the configured metric, registered and maybe promoted."""

from typing import Any

import pandas as pd
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
from assets.champion_metadata import metric_history, roc_table, versions_by_sha256
from assets.groups import SELECT
from assets.holdout import Holdout
from assets.leaderboard import latest_candidates, leaderboard_markdown
from assets.model_configs import MODEL_CONFIG_PARTITIONS
from assets.selection import select_champion
from resources.artifact_store import ArtifactStoreResource
from resources.registry import ModelRegistryResource
from resources.training_policy import TrainingPolicy
from shared.champion_rule import reaches_floor

# After a fan-out: some candidate partition was materialized since the champion last ran, and no
# candidate is queued, running or still due in a backfill. Failed partitions do not block it
# (unlike `eager()`, which waits for missing dependencies): the champion comes from the others.
# A new training frame alone does not trigger it: its candidates are still to be trained.
CHAMPION_AFTER_FANOUT = (
    AutomationCondition.any_deps_updated()
    .ignore(AssetSelection.assets("training_frame"))
    .since_last_handled()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after_candidate_fanout")


@asset(
    deps=[candidate_model],
    group_name=SELECT,
    automation_condition=CHAMPION_AFTER_FANOUT,
)
def champion_model(
    context: AssetExecutionContext,
    training_frame: pd.DataFrame,
    training_policy: TrainingPolicy,
    model_registry: ModelRegistryResource,
    artifact_store: ArtifactStoreResource,
) -> Output[dict[str, Any]]:
    """Register the best candidate; promote it if it reaches the floor and beats the champion.

    Both are scored by the JVM-free runtime on the current validation split: the challenger's
    metric recorded at training and the incumbent's recorded at its own training may come from
    different frames.
    """
    configs = context.instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS)
    candidates = latest_candidates(context.instance, configs)
    if not candidates:
        raise RuntimeError(f"no candidate of the {len(configs)} configs was trained successfully")
    metric = training_policy.metric
    store, holdout = artifact_store.open(), Holdout.of(training_frame)
    selected = select_champion(
        list(candidates.values()), training_policy, model_registry, store, holdout, "dagster"
    )
    ranked, best, value = selected.ranked, selected.best, selected.value
    record, decision = selected.record, selected.decision
    verdict = "promoted" if decision.promoted else "not promoted"
    context.log.info(f"{verdict}: {decision.reason}")
    missing = sorted(set(configs) - set(candidates))
    versions = model_registry.versions()
    summary: dict[str, Any] = {
        "model_version": record.model_version,
        "config_name": best.config_name,
        "metric": metric,
        "value": value,
        "incumbent_value": decision.incumbent_value,
        "floor_passed": decision.floor_passed,
        "validation_rows": len(holdout.labels),
        "promoted": decision.promoted,
        "reason": decision.reason,
        "candidates": len(candidates),
        "failed_or_missing": missing,
    }
    return Output(
        summary,
        metadata={
            **{
                k: v for k, v in summary.items() if k not in {"failed_or_missing"} and v is not None
            },
            "failed_or_missing": MetadataValue.json(missing),
            "registered_at": MetadataValue.timestamp(record.created_at),
            "artifact_uri": MetadataValue.url(best.artifact_uri),
            "artifact_sha256": best.artifact_sha256,
            "leaderboard": MetadataValue.md(
                leaderboard_markdown(ranked, metric, versions_by_sha256(versions))
            ),
            "metric_history": metric_history(versions, model_registry.promotions()),
            **({} if selected.roc is None else {"roc_curve": roc_table(selected.roc)}),
        },
    )


@asset_check(
    asset=champion_model,
    blocking=True,
    description="The selected model reaches the metric floor on the current validation split "
    "(checked before promotion too: a model below it is never promoted).",
)
def champion_metric_floor(
    champion_model: dict[str, Any], training_policy: TrainingPolicy
) -> AssetCheckResult:
    """Fails when the selected model's holdout metric is on the wrong side of `metric_floor`."""
    value = float(champion_model["value"])
    return AssetCheckResult(
        passed=reaches_floor(training_policy, value),
        metadata={
            "metric": champion_model["metric"],
            "value": value,
            "floor": training_policy.metric_floor,
            "promoted": champion_model["promoted"],
        },
    )


champion_automation_sensor = AutomationConditionSensorDefinition(
    "champion_automation_sensor",
    target=AssetSelection.assets(champion_model),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Selects the champion once a candidate fan-out has finished.",
)

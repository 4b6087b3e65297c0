"""What the champion shows in the UI besides its decision: registry history and the ROC curve."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from dagster import MetadataValue, TableColumn, TableMetadataValue, TableRecord, TableSchema

from assets.holdout import thin
from shared.registry import Champion, ModelRecord

# Enough to read the curve's shape in a table without thousands of rows of metadata.
ROC_POINTS = 41


def versions_by_sha256(versions: Sequence[ModelRecord]) -> dict[str, int]:
    """artifact sha256 -> the registry version holding it (one version per artifact)."""
    return {record.artifact_sha256: record.model_version for record in versions}


def metric_history(
    versions: Sequence[ModelRecord], promotions: Sequence[Champion]
) -> TableMetadataValue:
    """Every registered version with its training metrics, oldest first, and when it was promoted.

    The metrics are those each version recorded at its own training, on the frame of that day.
    """
    metrics = sorted({key for record in versions for key in record.metrics})
    current = promotions[0].model.model_version if promotions else None
    promoted_at: dict[int, str] = {}
    for promotion in reversed(promotions):  # oldest first: a version's first promotion wins
        promoted_at.setdefault(promotion.model.model_version, promotion.promoted_at.isoformat())
    columns = [
        TableColumn("model_version", "int"),
        TableColumn("registered_at", "string"),
        TableColumn("config_name", "string"),
        TableColumn("algo", "string"),
        TableColumn("orchestrator", "string"),
        *[TableColumn(name, "float") for name in metrics],
        TableColumn("first_promoted_at", "string"),
        TableColumn("champion", "bool"),
    ]
    records = [
        TableRecord(
            {
                "model_version": record.model_version,
                "registered_at": record.created_at.isoformat(),
                "config_name": str(record.training_config.get("config_name", "")),
                "algo": record.algo,
                "orchestrator": record.orchestrator,
                **{name: _number(record.metrics.get(name)) for name in metrics},
                "first_promoted_at": promoted_at.get(record.model_version),
                "champion": record.model_version == current,
            }
        )
        for record in versions
    ]
    return MetadataValue.table(records, TableSchema(columns))


def _number(value: object) -> float | None:
    # Registered metrics are JSON: a version registered by hand may hold anything under a name.
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def roc_table(curve: pd.DataFrame) -> TableMetadataValue:
    """The ROC curve as (threshold, fpr, tpr) rows, thinned to `ROC_POINTS`."""
    points = thin(curve, ROC_POINTS)
    columns = [TableColumn(name, "float") for name in ("threshold", "fpr", "tpr")]
    records = [
        TableRecord({"threshold": float(t), "fpr": float(f), "tpr": float(p)})
        for t, f, p in points[["threshold", "fpr", "tpr"]].itertuples(index=False)
    ]
    return MetadataValue.table(records, TableSchema(columns))

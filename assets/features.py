"""Feature ingestion from a file or the deterministic demo generator into the feature store.

Labels travel as an asset output (through the IO manager) so the point-in-time join can read them;
features go to PostgreSQL through the shared feature-store code.
"""

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetOut,
    Config,
    MetadataValue,
    Output,
    asset_check,
    multi_asset,
)
from pydantic import Field

from assets.demo_data import generate_demo_data
from assets.groups import INGEST
from resources.postgres import PostgresResource
from shared.feature_store import drift_events, ingest_frame

DEMO_SOURCE = "converge-demo-generator"


class FeaturesConfig(Config):
    """Where features and labels come from: a file with a label column, or the demo generator."""

    source_path: str | None = Field(
        default=None, description="CSV or Parquet file; unset: the demo generator."
    )
    entity_col: str = "entity_id"
    timestamp_col: str = "event_timestamp"
    label_col: str = Field(default="label", description="Column of the file holding the label.")
    demo_entities: int = Field(default=1500, ge=1)
    demo_snapshots: int = Field(default=4, ge=3)
    demo_seed: int = 7


def read_source(config: FeaturesConfig) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(features, labels, source name) from the configured file or the demo generator."""
    if config.source_path is None:
        demo = generate_demo_data(config.demo_entities, config.demo_snapshots, config.demo_seed)
        return demo.features, demo.labels, DEMO_SOURCE
    path = Path(config.source_path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [
        column
        for column in (config.entity_col, config.timestamp_col, config.label_col)
        if column not in frame.columns
    ]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    keys = [config.entity_col, config.timestamp_col]
    labelled = frame.dropna(subset=[config.label_col])
    labels = labelled[[*keys, config.label_col]].rename(
        columns={
            config.entity_col: "entity_id",
            config.timestamp_col: "event_timestamp",
            config.label_col: "label",
        }
    )
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    return frame.drop(columns=[config.label_col]), labels, str(path.resolve())


@multi_asset(
    outs={
        "features": AssetOut(description="Feature rows written to the feature store."),
        "labels": AssetOut(description="Labels (entity_id, event_timestamp, label)."),
    },
    group_name=INGEST,
)
def ingest_features(
    context: AssetExecutionContext, config: FeaturesConfig, postgres: PostgresResource
) -> tuple[Output[dict[str, Any]], Output[pd.DataFrame]]:
    """Ingest the source's features into the feature store and keep its labels."""
    features, labels, source = read_source(config)
    started = datetime.now(UTC)
    # The GIN index's pending list is merged on a second connection while the rows are written.
    second = partial(psycopg.connect, postgres.resolved_url())
    with postgres.connect() as conn:
        summary = ingest_frame(
            conn,
            features,
            config.entity_col,
            config.timestamp_col,
            source,
            second_connection=second,
        )
    context.log.info(
        f"ingested {summary.rows_written} of {summary.rows_read} rows from {source} "
        f"({summary.rows_duplicate} duplicate, {summary.rows_quarantined} quarantined)"
    )
    counts: dict[str, Any] = {
        "source": source,
        "ingest_started_at": started.isoformat(),
        "rows_read": summary.rows_read,
        "rows_written": summary.rows_written,
        "rows_duplicate": summary.rows_duplicate,
        "rows_quarantined": summary.rows_quarantined,
    }
    counts["drift_baseline"] = summary.baseline
    drift = [event.describe() for event in summary.drift]
    metadata = {
        **counts,
        "ingest_started_at": MetadataValue.timestamp(started),
        "drift": MetadataValue.json(drift),
    }
    return (
        Output(counts, metadata=metadata),
        Output(
            labels,
            metadata={"rows": len(labels), "positive_rate": float(labels["label"].mean())},
        ),
    )


@asset_check(asset="features", description="Rows arrived and none were quarantined.")
def features_row_counts(features: dict[str, Any]) -> AssetCheckResult:
    """Fails when the source was empty or rows were quarantined (they are in ingest_quarantine)."""
    read, quarantined = int(features["rows_read"]), int(features["rows_quarantined"])
    return AssetCheckResult(
        passed=read > 0 and quarantined == 0,
        metadata={"rows_read": read, "rows_quarantined": quarantined},
    )


@asset_check(asset="features", description="Drift the feature store recorded for this ingest.")
def features_drift(
    context: AssetCheckExecutionContext,
    features: dict[str, Any],
    postgres: PostgresResource,
) -> AssetCheckResult:
    """Warns with the drift events (new keys, type changes, stopped keys) of the last ingest.

    The first ingest ever is the baseline its keys are compared with later: no new keys then.
    """
    since = datetime.fromisoformat(str(features["ingest_started_at"]))
    with postgres.connect() as conn:
        events = drift_events(conn, since=since)
    baseline = bool(features.get("drift_baseline", False))
    return AssetCheckResult(
        passed=not events,
        severity=AssetCheckSeverity.WARN,
        description="first ingest: its feature keys are the baseline" if baseline else None,
        metadata={
            "drift_events": MetadataValue.json([event.describe() for event in events]),
            "baseline": baseline,
        },
    )

"""The training frame: labels joined point-in-time with features, split train/validation.

Reads are bitemporal: features as of each label's event time, among the rows ingested before the
frame's `as_of` instant, which its metadata records. Rebuilt with that `as_of` (run config), the
frame is the same even after a late backfill of older event times.
"""

import hashlib
from datetime import datetime

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetKey,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)
from pydantic import Field

from assets.groups import PREPARE
from resources.postgres import PostgresResource
from resources.training_policy import TrainingPolicy
from shared.feature_store import features_as_of_frame
from shared.feature_store.ingest import settled_ingestion_instant

KEY_COLUMNS = ("entity_id", "event_timestamp")
LABEL = "label"
SPLIT = "split"


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model inputs of a training frame: everything but keys, label and split."""
    return [c for c in frame.columns if c not in {*KEY_COLUMNS, LABEL, SPLIT}]


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Feature columns holding text (uploaded to H2O as factors)."""
    return [c for c in feature_columns(frame) if not pd.api.types.is_numeric_dtype(frame[c])]


def assign_split(entity_ids: pd.Series, validation_fraction: float) -> pd.Series:
    """'valid' or 'train' per row from a hash of the entity, stable across runs and machines."""
    buckets = entity_ids.map(
        lambda entity: int(hashlib.sha256(str(entity).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    )
    return buckets.map(lambda bucket: "valid" if bucket < validation_fraction else "train")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    # JSON values come back as Python objects; numeric keys become float columns (NaN = missing).
    for column in feature_columns(frame):
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == frame[column].notna().sum():
            frame[column] = converted.astype(float)
    return frame


class TrainingFrameConfig(Config):
    """Which ingestion instant to read the feature store at."""

    as_of: str | None = Field(
        default=None,
        description="ISO-8601 instant with a time zone, e.g. an earlier frame's `as_of`, to "
        "rebuild that frame; unset: now.",
    )


def resolve_as_of(requested: str | None, settled: datetime) -> datetime:
    """The instant to read at: `requested` if valid and not after `settled`, else `settled`."""
    if requested is None:
        return settled
    try:
        instant = datetime.fromisoformat(requested)
    except ValueError as exc:
        raise Failure(f"as_of: {requested!r} is not an ISO-8601 instant ({exc})") from exc
    if instant.utcoffset() is None:
        raise Failure(f"as_of: {requested!r} has no time zone (e.g. append +00:00)")
    if instant > settled:
        # Rows may still be ingested before a future instant: the frame would not be reproducible.
        raise Failure(
            f"as_of: {requested} is after the feature store's current instant "
            f"{settled.isoformat()}; a frame can only be read as of the past"
        )
    return instant


@asset(
    group_name=PREPARE,
    # The features are read from PostgreSQL, not passed as a value: a dependency, for lineage.
    deps=[AssetKey("features")],
)
def training_frame(
    config: TrainingFrameConfig,
    labels: pd.DataFrame,
    postgres: PostgresResource,
    training_policy: TrainingPolicy,
) -> Output[pd.DataFrame]:
    """Each label with the features as they were at its timestamp (never later), as of `as_of`."""
    with postgres.connect() as conn:
        as_of = resolve_as_of(config.as_of, settled_ingestion_instant(conn))
        joined = features_as_of_frame(
            conn, labels, "entity_id", "event_timestamp", ingested_before=as_of
        )
    frame = _typed(joined.reset_index(drop=True))
    frame[SPLIT] = assign_split(frame["entity_id"], training_policy.validation_fraction)
    missing = {str(k): float(v) for k, v in frame[feature_columns(frame)].isna().mean().items()}
    return Output(
        frame,
        metadata={
            "as_of": MetadataValue.timestamp(as_of),
            "as_of_iso": as_of.isoformat(),
            "rows": len(frame),
            "train_rows": int((frame[SPLIT] == "train").sum()),
            "valid_rows": int((frame[SPLIT] == "valid").sum()),
            "features": MetadataValue.json(feature_columns(frame)),
            "missing_share": MetadataValue.json(missing),
        },
    )


@asset_check(asset=training_frame, description="Enough rows and both splits non-empty.")
def training_frame_rows(
    training_frame: pd.DataFrame, training_policy: TrainingPolicy
) -> AssetCheckResult:
    """Fails when the frame is too small to train on or a split is empty."""
    splits = {str(k): int(v) for k, v in training_frame[SPLIT].value_counts().items()}
    return AssetCheckResult(
        passed=len(training_frame) >= training_policy.min_training_rows
        and splits.get("train", 0) > 0
        and splits.get("valid", 0) > 0,
        metadata={"rows": len(training_frame), "splits": MetadataValue.json(splits)},
    )

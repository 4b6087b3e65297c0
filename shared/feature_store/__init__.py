"""The feature store on PostgreSQL JSONB: ingest with quarantine and drift, latest and point-in-time
retrieval. See docs/feature_store.md."""

from shared.feature_store.drift import DriftEvent, drift_events
from shared.feature_store.ingest import (
    IngestBatchError,
    IngestSummary,
    ingest_file,
    ingest_frame,
)
from shared.feature_store.retrieval import (
    FeatureRow,
    count_rows_ingested_since,
    features_as_of,
    features_as_of_frame,
    latest,
    latest_async,
)
from shared.feature_store.validation import Rejection

__all__ = [
    "DriftEvent",
    "FeatureRow",
    "IngestBatchError",
    "IngestSummary",
    "Rejection",
    "count_rows_ingested_since",
    "drift_events",
    "features_as_of",
    "features_as_of_frame",
    "ingest_file",
    "ingest_frame",
    "latest",
    "latest_async",
]

"""The feature store on PostgreSQL JSONB: ingest with quarantine and drift, latest and point-in-time
retrieval. See docs/feature_store.md.

Names are imported on first use (PEP 562) so that serving, which only reads latest rows, does not
pay for pandas and the ingest machinery at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        features_as_of_async,
        features_as_of_frame,
        latest,
        latest_async,
    )
    from shared.feature_store.validation import Rejection

_HOME_MODULE = {
    "DriftEvent": "drift",
    "drift_events": "drift",
    "IngestBatchError": "ingest",
    "IngestSummary": "ingest",
    "ingest_file": "ingest",
    "ingest_frame": "ingest",
    "FeatureRow": "retrieval",
    "count_rows_ingested_since": "retrieval",
    "features_as_of": "retrieval",
    "features_as_of_async": "retrieval",
    "features_as_of_frame": "retrieval",
    "latest": "retrieval",
    "latest_async": "retrieval",
    "Rejection": "validation",
}

__all__ = [
    "DriftEvent",
    "FeatureRow",
    "IngestBatchError",
    "IngestSummary",
    "Rejection",
    "count_rows_ingested_since",
    "drift_events",
    "features_as_of",
    "features_as_of_async",
    "features_as_of_frame",
    "ingest_file",
    "ingest_frame",
    "latest",
    "latest_async",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME_MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME_MODULE[name]}"), name)
    globals()[name] = value
    return value

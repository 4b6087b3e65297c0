"""Reading the app's own Prometheus exposition: samples and histogram quantiles.

Used by the operational scripts (loop-lag validation, fault drills) and the benchmark, which judge
a running app by what it reports in /metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


def sample_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample `name` whose labels include `labels`, or None."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def histogram_buckets(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram `name` by upper bound."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name + "_bucket":
                buckets[float(sample.labels["le"])] = float(sample.value)
    return buckets


@dataclass(frozen=True)
class QuantileEstimate:
    """A quantile read from histogram buckets."""

    value: float  # interpolated within its bucket, as PromQL's histogram_quantile()
    bucket_upper: float  # upper bound of the bucket holding it: a guaranteed bound


def histogram_quantile(
    before: dict[float, float], after: dict[float, float], q: float
) -> QuantileEstimate:
    """Quantile `q` of the observations made between two scrapes of one histogram.

    Like PromQL's histogram_quantile(): linear interpolation inside the bucket that holds the
    quantile (the first bucket starts at 0); in the +Inf bucket, the highest finite bound.
    Raises ValueError when nothing was observed in between.
    """
    delta = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        raise ValueError("no observations between the two scrapes")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in delta:
        if count >= rank:
            if math.isinf(bound):
                return QuantileEstimate(lower, bound)
            share = (rank - below) / (count - below) if count > below else 1.0
            return QuantileEstimate(lower + (bound - lower) * share, bound)
        lower, below = bound, count
    raise AssertionError("the +Inf bucket holds every observation")  # cumulative buckets

"""Reading the app's own Prometheus exposition: samples and histogram quantiles.

Used by the operational scripts (loop-lag validation, fault drills) and the benchmark, which judge
a running app by what it reports in /metrics.
"""

from __future__ import annotations

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


def quantile_upper_bound(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Upper bound of the bucket holding quantile `q` of the observations made in between.

    Raises ValueError when nothing was observed in between.
    """
    delta = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        raise ValueError("no observations between the two scrapes")
    for bound, count in delta:
        if count >= q * total:
            return bound
    return float("inf")

"""Reading quantiles from the app's histograms, as PromQL's histogram_quantile() does."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from serving.prometheus_text import histogram_buckets, histogram_quantile

BOUNDS = (0.005, 0.01, 0.05)


def scrape(observations: list[float]) -> dict[float, float]:
    """Buckets of a real prometheus_client histogram after `observations`, read from its text."""
    registry = CollectorRegistry()
    histogram = Histogram("lag_seconds", "test", buckets=BOUNDS, registry=registry)
    for value in observations:
        histogram.observe(value)
    return histogram_buckets(generate_latest(registry).decode(), "lag_seconds")


def test_interpolates_inside_the_bucket_holding_the_quantile() -> None:
    # 50 in (0, 5 ms], 50 in (5, 10 ms]: p75 is half-way through the second bucket.
    after = scrape([0.001] * 50 + [0.008] * 50)
    estimate = histogram_quantile({}, after, 0.75)
    assert estimate.value == pytest.approx(0.0075)
    assert estimate.bucket_upper == 0.01


def test_counts_only_what_was_observed_between_the_scrapes() -> None:
    before = scrape([0.04] * 100)  # a bad spell before the window
    after = scrape([0.04] * 100 + [0.001] * 100)
    assert histogram_quantile(before, after, 0.99).bucket_upper == 0.005


def test_a_quantile_beyond_the_last_bound_is_that_bound() -> None:
    estimate = histogram_quantile({}, scrape([0.001] * 10 + [2.0] * 90), 0.99)
    assert estimate.value == 0.05
    assert estimate.bucket_upper == float("inf")


def test_no_observations_in_between_is_an_error() -> None:
    buckets = scrape([0.001])
    with pytest.raises(ValueError, match="no observations"):
        histogram_quantile(buckets, buckets, 0.99)

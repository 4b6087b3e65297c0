"""Prometheus metrics of one serving app, kept in the app's own registry (one per app instance)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from serving.breaker import BreakerState
from shared.champion_artifact import REFUSAL_REASONS, ArtifactRefusedError
from shared.registry import Champion

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Fine around the 10 ms SLO, so its p99 can be read off the buckets.
_LAG_BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    5.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """Every metric the serving app exports, registered in a private CollectorRegistry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_latency = Histogram(
            "converge_request_latency_seconds",
            "HTTP request latency by route and status code.",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "converge_event_loop_lag_seconds",
            "How late the event loop woke a periodic timer (scheduling lag).",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.breaker_state = Gauge(
            "converge_breaker_state",
            "1 for the state each dependency's circuit breaker is in, 0 for the others.",
            ["dependency", "state"],
            registry=r,
        )
        self.fallbacks = Counter(
            "converge_feature_fallbacks",
            "Feature lookups that fell through a failed dependency, by dependency and reason.",
            ["dependency", "reason"],
            registry=r,
        )
        self.feature_source = Counter(
            "converge_feature_source",
            "Entities whose features were served by each source.",
            ["source"],
            registry=r,
        )
        self.batch_size = Histogram(
            "converge_batch_rows",
            "Rows per vectorized scoring call.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "converge_model_info",
            "1 for the champion being served, labelled with its version and h2o_version.",
            ["model_version", "h2o_version", "algo"],
            registry=r,
        )
        self.requests_shed = Counter(
            "converge_requests_shed_total",
            "Requests refused with 503 by admission control (too many in flight), by route prefix.",
            ["route"],
            registry=r,
        )
        self.model_swaps = Counter(
            "converge_model_swaps", "Champions loaded and swapped in.", registry=r
        )
        self.model_refusals = Counter(
            "converge_model_refusals",
            "Champion artifacts refused at load time, by reason.",
            ["reason"],
            registry=r,
        )
        for reason in REFUSAL_REASONS:
            # Present at 0 from the start: a counter first seen at 1 is invisible to increase().
            self.model_refusals.labels(reason)
        self.champion_refused = Gauge(
            "converge_champion_refused",
            "1 while the registry's champion is refused (not served), by its version and reason.",
            ["model_version", "reason"],
            registry=r,
        )
        self.version_mismatch = Gauge(
            "converge_version_mismatch",
            "1 for each version that differs from versions.env: the champion's h2o_version "
            "(component champion) or an installed package (component: its name).",
            ["component", "expected", "found"],
            registry=r,
        )
        self.model_created = Gauge(
            "converge_model_created_timestamp_seconds",
            "When the served model version was registered (Unix time): time() minus it is its age.",
            registry=r,
        )
        self.champion_promoted = Gauge(
            "converge_champion_promoted_timestamp_seconds",
            "When the served model was promoted champion (Unix time).",
            registry=r,
        )
        # Each uvicorn worker has its own registry: the pid tells scrapes of different workers
        # apart, and the process collector gives each worker's RSS and CPU.
        ProcessCollector(registry=r)
        Gauge("converge_worker_pid", "Process id of the worker that answered.", registry=r).set(
            os.getpid()
        )
        self._mismatch_labels: dict[str, tuple[str, str, str]] = {}  # by component
        for dependency in ("redis", "postgres"):
            self.set_breaker_state(dependency, BreakerState.CLOSED)

    def set_breaker_state(self, dependency: str, state: BreakerState) -> None:
        """Mark `state` as the one `dependency`'s breaker is in."""
        for candidate in BreakerState:
            self.breaker_state.labels(dependency, candidate.value).set(candidate is state)

    def set_model(self, model_version: int, h2o_version: str, algo: str) -> None:
        """Label the served champion (and only it) in converge_model_info."""
        self.model_info.clear()
        self.model_info.labels(str(model_version), h2o_version, algo).set(1)

    def set_served_promotion(self, promotion: Champion) -> None:
        """Record when the served model was registered and promoted (its age, for alerts)."""
        self.model_created.set(promotion.model.created_at.timestamp())
        self.champion_promoted.set(promotion.promoted_at.timestamp())

    def set_refused(self, refused: ArtifactRefusedError | None, expected_h2o: str) -> None:
        """Show the refused champion (or none) and, for an h2o_version refusal, the mismatch."""
        self.champion_refused.clear()
        self.set_version_mismatch("champion", expected_h2o, None)
        if refused is None:
            return
        self.champion_refused.labels(str(refused.model_version), refused.reason).set(1)
        if refused.reason == "h2o_version" and refused.found is not None:
            self.set_version_mismatch("champion", expected_h2o, refused.found)

    def set_version_mismatch(self, component: str, expected: str, found: str | None) -> None:
        """`component` is at version `found` while versions.env says `expected`; None: it agrees."""
        previous = self._mismatch_labels.pop(component, None)
        if previous is not None:
            self.version_mismatch.remove(*previous)
        if found is not None:
            labels = (component, expected, found)
            self.version_mismatch.labels(*labels).set(1)
            self._mismatch_labels[component] = labels

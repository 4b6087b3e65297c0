"""Prometheus metrics of an H2O-3 cluster's memory, read from its /3/Cloud REST endpoint.

H2O-3 3.46 exports no Prometheus metrics of its own (h2o.jar has no Prometheus or Micrometer
classes), so `converge h2o-exporter` asks the cluster at every scrape: each node's heap as H2O
accounts for it (`max_mem` = data + temporary objects + free) and whether it is healthy. Grafana
plots the heap against the container's memory (cAdvisor) to show XGBoost's native headroom.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# /3/Cloud node field -> (metric name, help). H2O's own descriptions, in bytes.
NODE_FIELDS: dict[str, tuple[str, str]] = {
    "max_mem": (
        "converge_h2o_node_heap_max_bytes",
        "Heap the node may use: data + temporary objects + free (H2O's max_mem).",
    ),
    "free_mem": ("converge_h2o_node_heap_free_bytes", "Free heap (H2O's free_mem)."),
    "mem_value_size": (
        "converge_h2o_node_heap_data_bytes",
        "Heap holding frames and models in the K/V store (H2O's mem_value_size).",
    ),
    "pojo_mem": (
        "converge_h2o_node_heap_temp_bytes",
        "Heap held by temporary, non-data objects (H2O's pojo_mem).",
    ),
}
UP = "converge_h2o_up"
NODES = "converge_h2o_cloud_size"
HEALTHY = "converge_h2o_node_healthy"
# Every name this exporter can emit (the dashboard test checks panels against them).
METRIC_NAMES = frozenset({UP, NODES, HEALTHY, *(name for name, _ in NODE_FIELDS.values())})


class H2OCloudCollector(Collector):
    """Reads GET {h2o_url}/3/Cloud on each collect(); `converge_h2o_up` 0 when it cannot."""

    def __init__(self, h2o_url: str, timeout_s: float) -> None:
        self._url = h2o_url.rstrip("/") + "/3/Cloud?skip_ticks=true"
        self._timeout_s = timeout_s

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One scrape: the cluster's state now, or only up=0 when it did not answer."""
        up = GaugeMetricFamily(UP, "1 when the H2O cluster answered /3/Cloud, else 0.")
        try:
            # skip_ticks: leave the CPU tick bookkeeping of H2O's own status page alone.
            with urllib.request.urlopen(self._url, timeout=self._timeout_s) as response:
                cloud = json.load(response)
        except (OSError, ValueError) as exc:  # unreachable, HTTP error, not JSON
            log.warning("H2O cluster at %s did not answer: %s", self._url, exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(NODES, "Nodes in the H2O cloud.", value=cloud["cloud_size"])
        healthy = GaugeMetricFamily(
            HEALTHY, "1 while the node answers heartbeats.", labels=["node"]
        )
        families = {
            field: GaugeMetricFamily(name, text, labels=["node"])
            for field, (name, text) in NODE_FIELDS.items()
        }
        for node in cloud["nodes"]:
            healthy.add_metric([node["ip_port"]], 1 if node["healthy"] else 0)
            for field, family in families.items():
                family.add_metric([node["ip_port"]], node[field])
        yield healthy
        yield from families.values()

"""`converge h2o-exporter` against a real H2O JVM: each node's heap as Prometheus metrics.

Run as the CLI in its own process and scraped over HTTP, as Prometheus would; a cluster that does
not answer is reported as converge_h2o_up 0, never as stale node figures.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from converge.h2o_exporter import METRIC_NAMES
from shared.net import free_port
from tests.deploy.converge_serve import CONVERGE


@contextlib.contextmanager
def _exporter(h2o_url: str) -> Iterator[str]:
    """The exporter CLI on a free port; yields its /metrics URL once it answers."""
    port = free_port()
    argv = [str(CONVERGE), "h2o-exporter", "--h2o-url", h2o_url]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--timeout-s", "2"]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            with contextlib.suppress(httpx.TransportError):
                httpx.get(url, timeout=1)
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _by_node(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> dict[str, float]:
    return {labels["node"]: value for labels, value in samples[name]}


def _samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(url, timeout=10).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


@pytest.mark.h2o
def test_each_node_heap_of_a_real_cluster(h2o_cluster: Any) -> None:
    import h2o

    nodes = h2o_cluster.cluster().nodes
    # A frame in the K/V store, so the data share of the heap is not zero.
    frame = h2o_cluster.upload_file(str(Path(h2o.__file__).parent / "h2o_data" / "prostate.csv"))
    try:
        with _exporter(os.environ["H2O_URL"]) as url:
            samples = _samples(url)
            deadline = time.monotonic() + 30  # nodes report memory in their heartbeat (~1 s)
            while not all(_by_node(samples, "converge_h2o_node_heap_data_bytes").values()):
                assert time.monotonic() < deadline, samples
                time.sleep(0.5)
                samples = _samples(url)
    finally:
        h2o_cluster.remove(frame)
    assert set(samples) == METRIC_NAMES  # the dashboard test relies on exactly these names
    assert samples["converge_h2o_up"] == [({}, 1.0)]
    assert samples["converge_h2o_cloud_size"] == [({}, float(len(nodes)))]
    heap_max = _by_node(samples, "converge_h2o_node_heap_max_bytes")
    free = _by_node(samples, "converge_h2o_node_heap_free_bytes")
    data = _by_node(samples, "converge_h2o_node_heap_data_bytes")
    temp = _by_node(samples, "converge_h2o_node_heap_temp_bytes")
    assert set(heap_max) == {node["ip_port"] for node in nodes}
    # TEST_H2O_MAX_MEM (-Xmx) bounds what H2O accounts for.
    xmx = os.environ.get("TEST_H2O_MAX_MEM", "3G")
    limit = float(xmx[:-1]) * {"M": 2**20, "G": 2**30}[xmx[-1].upper()]
    for node, value in heap_max.items():
        assert 0.5 * limit < value <= limit, (node, value, limit)
        assert free[node] + data[node] + temp[node] == value  # H2O's own accounting
        assert 0 < free[node] < value
    assert samples["converge_h2o_node_healthy"] == [({"node": n}, 1.0) for n in heap_max]


def test_a_cluster_that_does_not_answer_is_reported_down() -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with _exporter(closed) as url:
        samples = _samples(url)
    assert samples == {"converge_h2o_up": [({}, 0.0)]}

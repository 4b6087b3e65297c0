"""A real 2-node H2O cloud on loopback (flatfile, `converge h2o node`): train on it, lose a node.

What a user sees: a candidate trains across both nodes; a node killed mid-training fails that
training within seconds with an error naming the node (H2O alone waits forever); a new session
refuses the damaged cloud, and a cloud smaller than expected; the killed node, restarted, refuses
to rejoin the locked cloud and says how to recover (and, started bare, H2O would take it back).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.h2o_training import train_candidate, upload_frames
from assets.model_configs import ModelConfig
from assets.training_frame import LABEL, SPLIT
from converge.commands.h2o import KUBERNETES_DNS_ENV, peers
from resources.h2o import H2O_URL_ENV, H2OResource, node_command
from resources.h2o_cloud import (
    CloudNode,
    CloudStatus,
    H2OCloudError,
    check_cloud,
    read_flatfile,
)

CONVERGE = str(Path(sys.executable).with_name("converge"))
HEAP = "1g"  # per node: the machine is shared
NODE_TIMEOUT_S = 8.0  # H2O sends a heartbeat a second; this machine is loaded
SMALL = ModelConfig("gbm-small", "gbm", {"ntrees": 5, "max_depth": 3, "seed": 1})
# Long enough on 2 cores that the node dies while H2O builds its trees.
LONG = ModelConfig("gbm-long", "gbm", {"ntrees": 3000, "max_depth": 8, "seed": 1})


def _port_pair(taken: set[int]) -> int:
    """A port whose neighbour is free too (H2O listens on port and port + 1).

    Below the kernel's ephemeral range (32768-60999) and H2O's default 54321 and up, so that
    neither outgoing connections nor other H2O JVMs on the machine take it before the node does.
    """
    for _ in range(50):
        port = random.randrange(20000, 30000, 2)
        if {port, port + 1} & taken:
            continue
        try:
            for candidate in (port, port + 1):
                with socket.socket() as probe:
                    probe.bind(("0.0.0.0", candidate))
        except OSError:
            continue
        taken |= {port, port + 1}
        return port
    raise RuntimeError("no free port pair in 50 tries")


@dataclass
class Cloud:
    """Two H2O nodes started by `converge h2o node` on loopback, and how to reach them."""

    flatfile: Path
    ports: list[int]
    nodes: list[subprocess.Popen[bytes]]
    start_node: Callable[..., subprocess.Popen[bytes]]

    def url(self, index: int) -> str:
        """REST URL of node `index`."""
        return f"http://127.0.0.1:{self.ports[index]}"

    def address(self, index: int) -> str:
        """`ip:port` of node `index`, as H2O names it."""
        return f"127.0.0.1:{self.ports[index]}"


def _cloud_size(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/3/Cloud?skip_ticks=true", timeout=2) as reply:
            cloud = json.load(reply)
    except OSError:
        return 0
    return int(cloud["cloud_size"]) if cloud["consensus"] else 0


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """A 2-node cloud (1 GiB heap each); every JVM started here is killed in `finally`."""
    taken: set[int] = set()
    ports = [_port_pair(taken), _port_pair(taken)]
    flatfile = tmp_path / "flatfile.txt"
    flatfile.write_text("".join(f"127.0.0.1:{port}\n" for port in ports))
    started: list[subprocess.Popen[bytes]] = []

    def start_node(index: int, guarded: bool = True) -> subprocess.Popen[bytes]:
        """Node `index` through `converge h2o node`, or (not `guarded`) its bare JVM command."""
        log = (tmp_path / f"node{index}-{len(started)}.log").open("wb")
        h2o_args = ("-ice_root", str(tmp_path / f"ice{index}"), "-nthreads", "1")
        if guarded:
            command = [
                CONVERGE,
                *("h2o", "node", "--heap", HEAP, "--ip", "127.0.0.1"),
                *("--port", str(ports[index]), "--flatfile", str(flatfile), "--name", "h2ocloud"),
                *h2o_args,
            ]
        else:
            command = node_command(
                HEAP, "h2ocloud", ports[index], "127.0.0.1", flatfile, extra=h2o_args
            )
        node = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        started.append(node)
        return node

    try:
        nodes = [start_node(0), start_node(1)]
        deadline = time.monotonic() + 120
        while _cloud_size(f"http://127.0.0.1:{ports[0]}") != 2:
            assert time.monotonic() < deadline, "no cloud of 2 nodes after 120 s"
            assert all(node.poll() is None for node in nodes), "an H2O node exited at start"
            time.sleep(0.5)
        yield Cloud(flatfile, ports, nodes, start_node)
    finally:
        for node in started:
            if node.poll() is None:
                node.kill()
            node.wait(timeout=30)
        import h2o

        if os.environ.get(H2O_URL_ENV):  # give the session-wide cluster its connection back
            h2o.connect(url=os.environ[H2O_URL_ENV], verbose=False)
        elif h2o.connection() is not None:  # else h2o's atexit hook calls the dead cloud
            h2o.connection().close()


def _frame(rows: int) -> pd.DataFrame:
    """A binary label driven by two numeric features and a categorical one."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 3))
    colour = rng.choice(["red", "green", "blue"], size=rows)
    signal_ = x[:, 0] + 0.5 * x[:, 1] + (colour == "red") + rng.normal(scale=0.5, size=rows)
    return pd.DataFrame(
        {
            "x0": x[:, 0],
            "x1": x[:, 1],
            "x2": x[:, 2],
            "colour": colour,
            LABEL: (signal_ > 0).astype(int).astype(str),
            SPLIT: np.where(np.arange(rows) % 5 == 0, "valid", "train"),
        }
    )


@pytest.mark.h2o
def test_a_lost_node_fails_training_by_name_and_cannot_rejoin(
    cloud: Cloud, tmp_path: Path, settings_env: Callable[..., None]
) -> None:
    settings_env(H2O_FLATFILE=str(cloud.flatfile))
    resource = H2OResource(url=cloud.url(0), cloud_size=2, node_timeout_s=NODE_TIMEOUT_S)

    # A candidate trains on the cloud of 2, through the resource, with the MOJO parity check.
    with resource.session("cloud") as session:
        frames = upload_frames(session, _frame(3000))
        trained = train_candidate(session, SMALL, frames, tmp_path)
    assert trained.algo == "gbm"
    assert trained.metrics["auc"] > 0.7

    # More nodes expected than the cloud has: refused before any upload, the missing one named.
    absent = f"127.0.0.1:{_port_pair(set(cloud.ports))}"
    cloud.flatfile.write_text(cloud.flatfile.read_text() + f"{absent}\n")
    partial = H2OResource(url=cloud.url(0), cloud_size=3)
    expected = f"has 2 of the 3 nodes expected .*missing: {absent}"
    with pytest.raises(H2OCloudError, match=expected), partial.session("partial"):
        pytest.fail("the session opened on a partial cloud")

    # kill -9 one node while a long training runs: it fails naming the node, in bounded time.
    lost = cloud.address(1)
    killed_at: list[float] = []

    def kill_node() -> None:
        time.sleep(3)
        os.kill(cloud.nodes[1].pid, signal.SIGKILL)
        killed_at.append(time.monotonic())

    with pytest.raises(H2OCloudError) as failure, resource.session("doomed") as session:
        frames = upload_frames(session, _frame(20000))
        threading.Thread(target=kill_node, daemon=True).start()
        train_candidate(session, LONG, frames, tmp_path)
    waited = time.monotonic() - killed_at[0]
    print(f"training failed {waited:.1f} s after kill -9 of {cloud.address(1)}")
    message = str(failure.value)
    assert f"H2O cloud 'h2ocloud' lost node {lost} (no heartbeat for" in message
    assert "restart the whole cloud" in message
    # The last heartbeat may have come up to a second before the kill; then one watchdog period.
    bounds = (NODE_TIMEOUT_S - 2, NODE_TIMEOUT_S + 15)
    assert bounds[0] <= waited < bounds[1], f"failed {waited:.1f} s after the kill"

    # The next training is refused at once: the cloud still lists the dead node.
    started = time.monotonic()
    with pytest.raises(H2OCloudError, match=f"lost node {lost}"), resource.session("after"):
        pytest.fail("the session opened on a cloud with a lost node")
    assert time.monotonic() - started < 10

    # The killed node, restarted, refuses to rejoin the locked cloud and says how to recover.
    restarted = cloud.start_node(1)
    assert restarted.wait(timeout=60) == 1
    log = sorted(tmp_path.glob("node1-*.log"))[-1].read_text()
    assert (
        f"this node cannot join H2O cloud 'h2ocloud': peer {cloud.address(0)} runs it locked" in log
    )
    assert "kubectl -n converge delete pod -l app.kubernetes.io/name=h2o" in log

    # Why the command asks first: H2O itself takes the same ip:port back into the locked cloud,
    # heartbeats and all, without the data the node held; nothing in /3/Cloud shows the loss.
    cloud.start_node(1, guarded=False)
    deadline = time.monotonic() + 90
    while True:
        try:
            status = check_cloud(cloud.url(0), 2, NODE_TIMEOUT_S)
            break
        except H2OCloudError:
            assert time.monotonic() < deadline, "H2O did not take the restarted node back"
            time.sleep(1)
    assert status.locked
    assert sorted(node.ip_port for node in status.nodes) == sorted([cloud.address(0), lost])


def test_peers_come_from_the_flatfile_else_the_kubernetes_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flatfile = tmp_path / "flatfile"
    flatfile.write_text("# the cloud\n10.0.0.11:54321\n\n10.0.0.12:54321  # second\n")
    assert peers(flatfile, 54321) == ("10.0.0.11:54321", "10.0.0.12:54321")
    assert read_flatfile(flatfile.read_text()) == peers(flatfile, 54321)
    monkeypatch.setenv(KUBERNETES_DNS_ENV, "localhost")  # the headless Service's name
    assert peers(None, 54321) == ("127.0.0.1:54321",)
    monkeypatch.setenv(KUBERNETES_DNS_ENV, "no-such-service.invalid")
    assert peers(None, 54321) == ()  # no pod published yet: the first node starts alone
    monkeypatch.delenv(KUBERNETES_DNS_ENV)
    assert peers(None, 54321) == ()


def test_a_node_with_no_cloud_to_join_starts_its_jvm(tmp_path: Path) -> None:
    """No peer answers (the first node of a cloud): the command execs h2o.jar with its settings."""
    port = _port_pair(set())
    flatfile = tmp_path / "flatfile"
    flatfile.write_text(f"127.0.0.1:{port}\n127.0.0.1:{_port_pair({port, port + 1})}\n")
    completed = subprocess.run(
        [CONVERGE, "h2o", "node", "--heap", "1g", "--flatfile", str(flatfile), "-version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # `-version` makes h2o.jar print its build and exit: the JVM ran the pinned jar.
    assert completed.returncode == 0, completed.stderr
    assert "3.46.0.11" in completed.stdout + completed.stderr


def test_a_node_is_lost_by_its_heartbeat_age_on_the_answering_nodes_clock() -> None:
    nodes = (
        CloudNode("10.0.0.11:54321", healthy=True, last_ping_ms=100_000),  # answering, starved
        CloudNode("10.0.0.12:54321", healthy=True, last_ping_ms=115_000),  # newest heartbeat
        CloudNode("10.0.0.13:54321", healthy=True, last_ping_ms=104_999),  # 10.001 s behind
        CloudNode("10.0.0.14:54321", healthy=False, last_ping_ms=115_000),  # H2O says so
    )
    status = CloudStatus("converge", size=4, locked=True, nodes=nodes, answering=0)
    lost = [node.ip_port for node in status.lost_nodes(node_timeout_s=10)]
    assert lost == ["10.0.0.13:54321", "10.0.0.14:54321"]
    assert [n.ip_port for n in status.lost_nodes(node_timeout_s=11)] == ["10.0.0.14:54321"]


def test_a_cloud_that_does_not_answer_is_named() -> None:
    port = _port_pair(set())
    with pytest.raises(H2OCloudError, match=f"H2O node 127.0.0.1:{port} does not answer"):
        check_cloud(f"http://127.0.0.1:{port}", expected_size=2, node_timeout_s=2)

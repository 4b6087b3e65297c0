"""The health of a multi-node H2O cloud, read from H2O's own `/3/Cloud`, as training must see it.

H2O never shrinks a cloud: when a node dies the others keep listing it, report the cloud healthy
for 60 s more, and every job touching the node's data waits forever (measured on 3.46.0.11). Its
heartbeat (one a second) stops, though, so a node whose last heartbeat is older than
`node_timeout_s` counts as lost here. Ages are taken on the answering node's own clock, from the
newest heartbeat it holds, so no clock is compared across machines; the answering node itself is
alive whatever its own (possibly starved) heartbeat thread last wrote.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

# A restart cannot help a locked cloud: say how to get a working one back.
RECOVERY = (
    "restart the whole cloud: stop every node and start them together "
    "(Kubernetes: kubectl -n converge delete pod -l app.kubernetes.io/name=h2o), "
    "then rerun the training"
)


class H2OCloudError(RuntimeError):
    """The H2O cloud cannot train: a node is lost, missing or unreachable; the message names it.

    Not an OSError on purpose: a candidate's own failures are OSErrors that the next candidate
    survives, while a broken cloud must fail the whole run.
    """


@dataclass(frozen=True)
class CloudNode:
    """One member as the answering node sees it."""

    ip_port: str
    healthy: bool
    last_ping_ms: int


@dataclass(frozen=True)
class CloudStatus:
    """What one node of the cloud reports about the whole cloud."""

    name: str
    size: int
    locked: bool
    nodes: tuple[CloudNode, ...]
    answering: int
    """Index in `nodes` of the node that answered: alive, whatever its own heartbeat says."""

    def lost_nodes(self, node_timeout_s: float) -> list[CloudNode]:
        """Members H2O calls unhealthy or whose last heartbeat is older than `node_timeout_s`."""
        newest = max(node.last_ping_ms for node in self.nodes)
        return [
            node
            for index, node in enumerate(self.nodes)
            if index != self.answering
            and (not node.healthy or newest - node.last_ping_ms > node_timeout_s * 1000)
        ]


def node_address(url: str) -> str:
    """`ip:port` of the node serving `url`, as H2O names its nodes."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 54321}"


def cloud_status(url: str, timeout_s: float) -> CloudStatus:
    """Ask the node at `url` for the cloud's status; H2OCloudError if it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/3/Cloud?skip_ticks=true", timeout=timeout_s) as reply:
            cloud = json.load(reply)
    except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors, bad JSON ValueError
        raise H2OCloudError(
            f"H2O node {node_address(url)} does not answer ({exc}): it is lost; {RECOVERY}"
        ) from exc
    return CloudStatus(
        name=cloud["cloud_name"],
        size=cloud["cloud_size"],
        locked=cloud["locked"],
        answering=cloud["node_idx"],
        nodes=tuple(
            CloudNode(node["ip_port"], node["healthy"], node["last_ping"])
            for node in cloud["nodes"]
        ),
    )


def check_cloud(
    url: str,
    expected_size: int | None,
    node_timeout_s: float,
    peers: tuple[str, ...] = (),
) -> CloudStatus:
    """The cloud's status if it can train, else H2OCloudError naming the lost or missing nodes.

    `peers` (`ip:port`, e.g. the flatfile's) name the nodes missing from a cloud that is smaller
    than `expected_size`.
    """
    status = cloud_status(url, timeout_s=node_timeout_s)
    lost = status.lost_nodes(node_timeout_s)
    if lost:
        names = ", ".join(
            f"{node.ip_port} (no heartbeat for {_silence_s(status, node):.0f} s)" for node in lost
        )
        raise H2OCloudError(
            f"H2O cloud '{status.name}' lost node {names}: its data and running jobs are gone "
            f"and the cloud cannot shrink or take the node back; {RECOVERY}"
        )
    if expected_size is not None and status.size < expected_size:
        present = {node.ip_port for node in status.nodes}
        missing = sorted(set(peers) - present)
        named = f"; missing: {', '.join(missing)}" if missing else ""
        raise H2OCloudError(
            f"H2O cloud '{status.name}' has {status.size} of the {expected_size} nodes expected "
            f"(H2O_CLOUD_SIZE){named}: refusing to train on a partial cloud; {RECOVERY}"
        )
    return status


def _silence_s(status: CloudStatus, node: CloudNode) -> float:
    return (max(n.last_ping_ms for n in status.nodes) - node.last_ping_ms) / 1000


def locked_peer(peers: tuple[str, ...], timeout_s: float) -> tuple[str, CloudStatus] | None:
    """The first peer (and its status) already running a locked cloud, or None.

    A node restarting into a locked cloud would be taken back without the data it held (H2O
    3.46 re-admits a node on the same ip:port), so `converge h2o node` refuses to start then.
    The starting node's own address may be among `peers`: nothing answers there yet.
    """
    for peer in peers:
        try:
            status = cloud_status(f"http://{peer}", timeout_s=timeout_s)
        except H2OCloudError:
            continue  # not started yet, or down: no cloud to join there
        if status.locked:
            return peer, status
    return None


def read_flatfile(text: str) -> tuple[str, ...]:
    """The `ip:port` entries of a flatfile (blank lines and `#` comments skipped)."""
    entries = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(entry for entry in entries if entry)

"""`converge h2o node`: start one node of a multi-node H2O cloud (the h2o StatefulSet's entrypoint).

The node joins the cloud H2O_CLOUD_NAME on H2O_PORT (nodes talk on port + 1) and finds its peers in
H2O_FLATFILE, or through H2O's Kubernetes DNS discovery (H2O_KUBERNETES_SERVICE_DNS). Before
starting the JVM it asks its peers whether their cloud is already locked: a locked cloud cannot
take a node back (H2O would re-admit one on the same ip:port without the data it held), so a
restarted node refuses to start and says how to recover.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import click

from converge.commands.h2o_exporter import h2o_exporter
from resources.h2o import node_command
from resources.h2o_cloud import RECOVERY, locked_peer, read_flatfile
from shared.settings import get_settings

# H2O's own variable (read by h2o.jar's Kubernetes extension): the headless Service's DNS name.
KUBERNETES_DNS_ENV = "H2O_KUBERNETES_SERVICE_DNS"
PEER_TIMEOUT_S = 3.0


def peers(flatfile: Path | None, port: int) -> tuple[str, ...]:
    """The cloud's nodes as `ip:port`: the flatfile's, else the Kubernetes Service's addresses."""
    if flatfile is not None:
        return read_flatfile(flatfile.read_text())
    service = os.environ.get(KUBERNETES_DNS_ENV)
    if not service:
        return ()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(service, port, socket.AF_INET)}
    except socket.gaierror:
        return ()  # no pod is published yet: this node is among the first
    return tuple(f"{address}:{port}" for address in sorted(addresses))


@click.group("h2o")
def h2o() -> None:
    """H2O cloud nodes and their metrics."""


h2o.add_command(h2o_exporter)


@h2o.command("node", context_settings={"ignore_unknown_options": True})
@click.option("--heap", required=True, help="Java heap (-Xmx), e.g. the memory split's 5g.")
@click.option("--ip", default=None, help="Address to bind and announce. Default: H2O's choice.")
@click.option("--port", type=int, default=None, help="REST port. Default: H2O_PORT.")
@click.option(
    "--flatfile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="File of the cloud's nodes (ip:port a line). Default: H2O_FLATFILE.",
)
@click.option("--name", "cloud_name", default=None, help="Cloud name. Default: H2O_CLOUD_NAME.")
@click.argument("h2o_args", nargs=-1, type=click.UNPROCESSED)
def node(
    heap: str,
    ip: str | None,
    port: int | None,
    flatfile: Path | None,
    cloud_name: str | None,
    h2o_args: tuple[str, ...],
) -> None:
    """Start an H2O node (replacing this process); refuse to join a locked cloud."""
    settings = get_settings()
    port = port or settings.h2o_port
    flatfile = flatfile or settings.h2o_flatfile
    cloud_name = cloud_name or settings.h2o_cloud_name
    locked = locked_peer(peers(flatfile, port), timeout_s=PEER_TIMEOUT_S)
    if locked is not None:
        peer, status = locked
        raise click.ClickException(
            f"this node cannot join H2O cloud '{status.name}': peer {peer} runs it locked "
            f"(size {status.size}; a cloud locks at its first job and never takes a node "
            f"back, so a restarted node cannot rejoin); {RECOVERY}"
        )
    command = node_command(heap, cloud_name, port, ip=ip, flatfile=flatfile, extra=h2o_args)
    # exec: the JVM takes this process's place, so signals and the exit code are its own.
    os.execvp(command[0], command)

"""`converge h2o-exporter`: serve an H2O-3 cluster's memory as Prometheus metrics."""

from __future__ import annotations

import click


@click.command("h2o-exporter")
@click.option(
    "--h2o-url", envvar="H2O_URL", required=True, help="The cluster, e.g. http://h2o:54321."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=9435, show_default=True, help="Port of /metrics.")
@click.option(
    "--timeout-s", type=float, default=5.0, show_default=True, help="Wait for /3/Cloud per scrape."
)
def h2o_exporter(h2o_url: str, host: str, port: int, timeout_s: float) -> None:
    """Answer Prometheus scrapes on HOST:PORT/metrics with the heap of each H2O node."""
    from prometheus_client import CollectorRegistry, start_http_server

    from converge.h2o_exporter import H2OCloudCollector

    registry = CollectorRegistry()
    registry.register(H2OCloudCollector(h2o_url, timeout_s))
    _server, thread = start_http_server(port, host, registry)
    click.echo(f"h2o-exporter: http://{host}:{port}/metrics for {h2o_url}", err=True)
    thread.join()

"""`converge bench ...`: on-demand benchmarks: measured figures and a same-run baseline."""

from __future__ import annotations

import click

from converge.cli import LazyGroup

BENCHMARKS: dict[str, str] = {
    "gin": "bench.gin:command",
    "mojo": "bench.mojo:command",
    "fanout": "bench.fanout:command",
    "serve": "bench.serve:command",
    "ingest": "bench.ingest:command",
    "overload": "bench.overload:command",
    "peers": "bench.peers:command",
}


@click.group(cls=LazyGroup, lazy=BENCHMARKS)
def bench() -> None:
    """Run a benchmark (not a test): prints measured figures against targets."""

"""`dagster api grpc` whose runs start from a forkserver that has already imported the libraries.

`python -m assets.code_server api grpc ...` is Dagster's code server (`python -m dagster api grpc`)
with one change: Dagster starts each run's process with multiprocessing's "spawn", a new
interpreter that imports Dagster, its PostgreSQL storage, pandas and the H2O client again before
the run's first step (1.5-3 s of CPU a run, which two runs starting together on two cores share).
Here runs start with "forkserver": a clean process, started once with the code server, imports
PRELOAD and every run is forked from it. It holds no gRPC thread and no state of the code server;
the code location itself (`assets.definitions`) is still imported by each run, so a run sees the
code as of its start. `assets.daemon` starts its code server with this module.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver
from typing import Any

# Third-party modules every run imports (Dagster's execution and storage, the code location's
# libraries, the H2O client): never the code location, which may change between runs.
PRELOAD = [
    "dagster",
    "dagster._grpc.impl",
    "dagster._core.execution.api",
    "dagster_postgres",
    "h2o",
    "pandas",
    "psycopg",
    "pyarrow.compute",
    "pydantic_settings",
]


def use_forkserver() -> None:
    """Make Dagster's code server start runs from a forkserver preloaded with PRELOAD."""
    from dagster._grpc.server import DagsterApiServer

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    spawn_init = DagsterApiServer.__init__

    def forkserver_init(self: DagsterApiServer, *args: Any, **kwargs: Any) -> None:
        spawn_init(self, *args, **kwargs)
        # The one place Dagster sets the context its runs' processes start with.
        self._mp_ctx = context  # type: ignore[assignment]
        # Started with the server, not with the first run; after the server's own set-up, so the
        # runs inherit the environment it left (e.g. the project's .env Dagster loads into it).
        forkserver.ensure_running()

    DagsterApiServer.__init__ = forkserver_init  # type: ignore[method-assign]


def main() -> None:
    """Dagster's command line (`api grpc ...`), its runs started from the forkserver."""
    from dagster._cli import main as dagster

    use_forkserver()
    dagster()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()

"""The daemon's code server starts the runs' processes from a forkserver with PRELOAD imported."""

from __future__ import annotations

import os
import subprocess
import sys

from assets.code_server import PRELOAD

# In a fresh interpreter (the patch must not reach the test process): the code server's start
# method, which of PRELOAD a process it starts has imported before running anything, and whether
# that process sees the environment as the server's set-up left it (Dagster loads .env then).
PROBE = """
import logging, os, sys, threading
from dagster._core.utils import FuturesAwareThreadPoolExecutor
from dagster._grpc.server import DagsterApiServer
{setup}
os.environ["CONVERGE_PROBE"] = "server set-up"
server = DagsterApiServer(
    server_termination_event=threading.Event(),
    logger=logging.getLogger("probe"),
    server_threadpool_executor=FuturesAwareThreadPoolExecutor(max_workers=1),
    lazy_load_user_code=True,
)
context = server._mp_ctx
queue = context.Queue()
process = context.Process(target=imported_before_start, args=(queue, {modules!r}))
process.start()
print(context.get_start_method(), sorted(queue.get(timeout=120)), queue.get(timeout=120))
process.join()
"""


def imported_before_start(queue: object, modules: list[str]) -> None:
    """Put on `queue` the `modules` imported when this process started, then $CONVERGE_PROBE."""
    queue.put([name for name in modules if name in sys.modules])  # type: ignore[attr-defined]
    queue.put(os.environ.get("CONVERGE_PROBE"))  # type: ignore[attr-defined]


def probe(setup: str) -> str:
    """The probe's output line after `setup` (source run before the server is built)."""
    source = PROBE.format(setup=setup, modules=PRELOAD)
    source = "from tests.training.test_code_server import imported_before_start\n" + source
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_runs_start_from_a_forkserver_with_the_libraries_imported() -> None:
    line = probe("from assets.code_server import use_forkserver\nuse_forkserver()")
    assert line == f"forkserver {sorted(PRELOAD)} server set-up"


def test_dagster_alone_starts_runs_in_a_new_interpreter_without_them() -> None:
    # The control: without the module, each run's process imports everything itself.
    assert probe("") == "spawn [] server set-up"


def test_the_daemon_starts_its_code_server_with_the_module() -> None:
    # Imported here: a probe's process imports this module, which must not bring Dagster with it.
    from assets.daemon import code_server_entry_point

    assert code_server_entry_point("/venv/bin/python") == [
        "/venv/bin/python",
        "-m",
        "assets.code_server",
    ]


def test_dagster_builds_its_code_server_command_from_the_name_the_daemon_replaces() -> None:
    # assets.daemon replaces this module global; were Dagster to read another name, the daemon's
    # code server would silently start runs in new interpreters again.
    import inspect

    from dagster._grpc import server

    assert callable(server.get_python_environment_entry_point)  # type: ignore[attr-defined]
    source = inspect.getsource(server.open_server_process)
    assert "entrypoint = get_python_environment_entry_point(" in source

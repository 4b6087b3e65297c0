"""Private Redis and PostgreSQL servers that a test may stop and start (fault drills).

The machine's shared services are never touched: each instance here has its own port, data
directory and process, and is removed when its fixture ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import psycopg
import redis

from shared.db.migrate import upgrade
from shared.net import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivateRedis:
    """A redis-server on its own port, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def start_command(self) -> list[str]:
        """The command that starts this server in the foreground."""
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self._process = subprocess.Popen(
            self.start_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        """Kill the server (as a crash would)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


class PrivatePostgres:
    """A PostgreSQL 15 cluster in a temporary directory, run as the postgres user, logging SQL."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: the postgres user cannot enter root's 0700 folders.
        self.root = Path(tempfile.mkdtemp(prefix="converge-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data_dir = self.root / "pgdata"
        self.log_file = self.root / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(PG_BIN / "initdb", "-D", self.data_dir, "-A", "trust", "-U", "postgres")

    def _as_postgres(self, *args: object) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, args)],
            check=True,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )

    def _pg_ctl(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D",
                str(self.data_dir), *args]  # fmt: skip

    @property
    def start_command(self) -> list[str]:
        """The command that starts the server (log_statement=all: tests count what it ran)."""
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
        options += "-c log_statement=all -c fsync=off"
        return self._pg_ctl("-l", str(self.log_file), "-o", options, "-w", "start")

    @property
    def stop_command(self) -> list[str]:
        """The command that stops the server at once (open connections are cut)."""
        return self._pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        """Start the server and wait for it."""
        subprocess.run(self.start_command, check=True, capture_output=True)

    def stop(self) -> None:
        """Stop the server at once."""
        subprocess.run(self.stop_command, check=True, capture_output=True)

    def remove(self) -> None:
        """Stop the server if it runs and delete its files."""
        subprocess.run(self.stop_command, capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def statements_matching(self, text: str) -> int:
        """How many logged statements contain `text` (log_statement=all logs each SQL once)."""
        return self.log_file.read_text(errors="replace").count(text)

    def wait_ready(self) -> None:
        """Block until the server accepts connections."""
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


ServerT = TypeVar("ServerT", bound=PrivatePostgres)


@contextmanager
def migrated(server: ServerT) -> Iterator[ServerT]:
    """`server` started, ready and migrated to the newest schema; removed when done."""
    try:
        server.start()
        server.wait_ready()
        upgrade(server.url)
        yield server
    finally:
        server.remove()

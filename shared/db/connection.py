"""Resolve the database URL (starting an embedded PostgreSQL when none is set) and connect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import psycopg

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

from shared.settings import Component, Settings, get_settings

_embedded_lock = threading.Lock()
_embedded_servers: dict[Path, PostgresServer] = {}


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) an embedded PostgreSQL 16 in `data_dir` and return its socket URL.

    The server keeps running while any process that joined it is alive (pgserver counts them).
    """
    from pgserver.postgres_server import get_server  # lazily: only the embedded default needs it

    data_dir = data_dir.resolve()
    with _embedded_lock:
        server = _embedded_servers.get(data_dir)
        if server is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            server = get_server(data_dir)
            _embedded_servers[data_dir] = server
    return server.get_uri()


def database_url(settings: Settings | None = None, component: Component | None = None) -> str:
    """The libpq URL of the converge database for `component` (None: the owner, migrations).

    A component's own URL (its login user's role), else DATABASE_URL, else the embedded default.
    """
    settings = settings or get_settings()
    url = settings.database_url if component is None else settings.component_database_url(component)
    return url or embedded_database_url(settings.converge_home / "pgdata")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy (psycopg 3 driver) form of a libpq URL, for Alembic."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (used to create test databases)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    params = "&".join(f"{key}={quote(str(value))}" for key, value in info.items())
    return f"postgresql:///?{params}"


@contextmanager
def connect(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the converge database, closed on exit.

    Without autocommit the block is one transaction: committed on success, rolled back on error.
    """
    with psycopg.connect(url or database_url(), autocommit=autocommit) as conn:
        yield conn

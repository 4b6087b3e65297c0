"""Scratch databases for benchmark runs: created on a given server, dropped however the run ends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import psycopg
from psycopg import sql

from shared.db.connection import with_database
from shared.db.migrate import upgrade


class ScratchDatabase(NamedTuple):
    """A scratch database's name and libpq URL."""

    name: str
    url: str


@contextmanager
def scratch_database(
    server_url: str, prefix: str, *, migrate: bool = True
) -> Iterator[ScratchDatabase]:
    """A new database `prefix_<random>` on `server_url`'s server (migrated unless told not to)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = with_database(server_url, name)
        if migrate:
            upgrade(url)
        yield ScratchDatabase(name, url)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(statement.format(sql.Identifier(name)))

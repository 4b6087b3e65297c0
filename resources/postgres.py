"""PostgreSQL resource: the converge database (feature store and model registry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from dagster import ConfigurableResource
from pydantic import Field

from shared.db import connect, database_url
from shared.settings import Settings


class PostgresResource(ConfigurableResource["PostgresResource"]):
    """The converge database; an unset URL means DATABASE_URL or the embedded PostgreSQL."""

    url: str | None = Field(default=None, description="libpq URL; unset: converge settings.")

    def resolved_url(self) -> str:
        """The URL to connect to, starting the embedded server only when it is needed."""
        return self.url or database_url(Settings())

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the converge database (committed on success)."""
        with connect(self.resolved_url()) as conn:
            yield conn

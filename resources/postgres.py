"""PostgreSQL resource: the converge database (feature store and model registry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from dagster import ConfigurableResource
from pydantic import Field

from shared.db import connect, database_url
from shared.settings import Component, Settings


class PostgresResource(ConfigurableResource["PostgresResource"]):
    """The converge database as one component's role; unset URL: that component's settings."""

    url: str | None = Field(default=None, description="libpq URL; unset: converge settings.")
    component: Component = Field(
        default="training", description="Whose URL setting (and so database role) to use."
    )

    def resolved_url(self) -> str:
        """The URL to connect to, starting the embedded server only when it is needed."""
        return self.url or database_url(Settings(), self.component)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the converge database (committed on success)."""
        with connect(self.resolved_url()) as conn:
            yield conn

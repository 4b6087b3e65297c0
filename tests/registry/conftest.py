"""Fixtures of the registry tests: a connection to a fresh migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection: every registry call commits, as in production."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection

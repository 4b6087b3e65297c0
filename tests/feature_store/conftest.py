"""Fixtures for feature-store tests: a connection to a fresh migrated database, CSV writing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from shared.db import connect


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection: each ingest batch commits on its own, as in the CLI."""
    with connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write CSV text (leading indentation removed) to a file and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(line.strip() for line in text.strip().splitlines()) + "\n")
        return path

    return write

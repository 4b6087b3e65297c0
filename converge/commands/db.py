"""`converge db ...`: schema migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg
import sqlalchemy.exc

from shared.db import database_url
from shared.db.migrate import current_revision, head_revision, upgrade


@contextmanager
def _database_errors_as_messages() -> Iterator[None]:
    try:
        yield
    except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
        raise click.ClickException(f"cannot reach the converge database: {exc}") from exc


@click.group()
def db() -> None:
    """Manage the converge database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (idempotent)."""
    with _database_errors_as_messages():
        url = database_url()
        before = current_revision(url)
        upgrade(url)
        after = current_revision(url)
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to {after}")


@db.command("status")
def db_status() -> None:
    """Print the database revision and the newest shipped revision."""
    with _database_errors_as_messages():
        revision = current_revision(database_url())
    click.echo(f"database: {revision or 'empty'}; head: {head_revision()}")

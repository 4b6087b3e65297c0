"""`converge db ...`: schema migrations."""

from __future__ import annotations

import click

from shared.db import database_url
from shared.db.migrate import current_revision, head_revision, upgrade


@click.group()
def db() -> None:
    """Manage the converge database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (idempotent)."""
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
    click.echo(f"database: {current_revision(database_url()) or 'empty'}; head: {head_revision()}")

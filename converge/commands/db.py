"""`converge db ...`: schema migrations and the component roles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg
import sqlalchemy.exc
from psycopg import sql

from shared.db import connect, database_url
from shared.db.migrate import current_revision, head_revision, upgrade
from shared.db.roles import COMPONENT_ROLES


@contextmanager
def _database_errors_as_messages() -> Iterator[None]:
    try:
        yield
    except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
        raise click.ClickException(f"cannot reach the converge database: {exc}") from exc
    except psycopg.errors.UndefinedObject as exc:
        raise click.ClickException(str(exc).strip()) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise click.ClickException(
            f"the DATABASE_URL user may not do this (it needs to own the roles or be "
            f"a superuser): {str(exc).strip()}"
        ) from exc


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


@db.command("grant")
@click.argument("role", type=click.Choice(sorted(COMPONENT_ROLES)))
@click.argument("user")
def db_grant(role: str, user: str) -> None:
    """Grant a component's ROLE to the login USER (run with the owner's DATABASE_URL)."""
    with _database_errors_as_messages(), connect(database_url()) as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(user)))
    click.echo(f"granted {role} to {user}: {COMPONENT_ROLES[role]}")

"""The local Dagster instance: its PostgreSQL database, its dagster.yaml and its pool limit."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import quote

import psycopg
from dagster import DagsterInstance
from psycopg import sql

from resources.training_policy import TRAINING_POOL
from shared.db import database_url
from shared.db.connection import with_database
from shared.db.migrate import upgrade
from shared.settings import Settings

TEMPLATE = Path(__file__).with_name("dagster_instance.yaml")
DAGSTER_DATABASE = "dagster"
# Another name for the Dagster database, e.g. for tests sharing one server.
DAGSTER_DATABASE_ENV = "CONVERGE_DAGSTER_DATABASE"
# dagster.yaml names this variable (Dagster's `env:` indirection) instead of holding the URL, so
# the password never lands in a file under CONVERGE_HOME.
STORAGE_URL_ENV = "CONVERGE_DAGSTER_STORAGE_URL"


def psycopg2_url(libpq_url: str) -> str:
    """The SQLAlchemy `postgresql+psycopg2://` form of a libpq URL (sockets and params kept)."""
    info = psycopg.conninfo.conninfo_to_dict(libpq_url)
    user = quote(str(info.pop("user", "postgres")), safe="")
    password = info.pop("password", None)
    dbname = quote(str(info.pop("dbname", "postgres")), safe="")
    host = str(info.pop("host", ""))
    port = info.pop("port", None)
    userinfo = user + (f":{quote(str(password), safe='')}" if password else "")
    if host.startswith("/"):
        # A unix socket directory goes in the query; the URL's host part stays empty.
        info["host"] = host
        if port:
            info["port"] = port
        location = ""
    else:
        location = host + (f":{port}" if port else "")
    query = "&".join(f"{key}={quote(str(value), safe='/')}" for key, value in info.items())
    return f"postgresql+psycopg2://{userinfo}@{location}/{dbname}" + (f"?{query}" if query else "")


def ensure_database(server_url: str, name: str = DAGSTER_DATABASE) -> str:
    """Create database `name` on the server of `server_url` if missing; return its libpq URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            # A concurrent caller may create it in between: that is what we wanted anyway.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def render_instance_yaml(
    dagster_home: Path, dagster_db_url: str, pool_limit: int, max_concurrent_runs: int = 20
) -> Path:
    """Write dagster.yaml for a PostgreSQL-backed instance with the training pool limit.

    The storage URL goes into this process's STORAGE_URL_ENV (inherited by the daemon, the
    webserver and every run it starts), not into the file.
    """
    if pool_limit < 1:
        raise ValueError(f"pool limit must be at least 1, got {pool_limit}")
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    os.environ[STORAGE_URL_ENV] = psycopg2_url(dagster_db_url)
    target.write_text(
        Template(TEMPLATE.read_text()).substitute(
            storage_url_env=STORAGE_URL_ENV,
            pool_limit=pool_limit,
            max_concurrent_runs=max_concurrent_runs,
        )
    )
    return target


def set_training_pool_limit(instance: DagsterInstance, limit: int) -> None:
    """Set the `h2o_training` pool's slots on `instance` (overrides a limit set earlier)."""
    instance.event_log_storage.set_concurrency_slots(TRAINING_POOL, limit)


@dataclass(frozen=True)
class LocalDagster:
    """A ready local instance: its DAGSTER_HOME and the converge database it trains from."""

    dagster_home: Path
    database_url: str


def prepare_local_dagster(
    settings: Settings, pool_limit: int, dagster_database: str = DAGSTER_DATABASE
) -> LocalDagster:
    """Migrate the converge database, create the Dagster database beside it, write dagster.yaml."""
    url = database_url(settings)
    upgrade(url)
    home = settings.converge_home.resolve() / "dagster"
    render_instance_yaml(home, ensure_database(url, dagster_database), pool_limit=pool_limit)
    return LocalDagster(dagster_home=home, database_url=url)

"""Fixtures for real components: PostgreSQL, Redis, an S3 API over HTTP (moto server), H2O.

Each test gets its own freshly migrated PostgreSQL database, cloned from a template migrated once
per session, so tests never see each other's rows. Point TEST_DATABASE_URL / TEST_REDIS_URL
elsewhere to use other servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from converge.local_services import DEFAULT_TEST_DATABASE_URL, DEFAULT_TEST_REDIS_URL
from shared.db.connection import with_database
from shared.db.migrate import upgrade
from shared.java import export_h2o_java_home
from shared.net import free_port
from shared.settings import get_settings

# `make test` sets both (converge.local_services: reused when reachable, else started).
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
REDIS_URL = os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


def _create_database(name: str, template: str | None = None) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
    return with_database(ADMIN_URL, name)


def _drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def databases_named_like(url: str, pattern: str) -> set[str]:
    """Names of the databases on `url`'s server matching the SQL LIKE `pattern`."""
    with psycopg.connect(url) as conn:
        query = "SELECT datname FROM pg_database WHERE datname LIKE %s"
        return {row[0] for row in conn.execute(query, (pattern,))}


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[str]:
    """The name of a database migrated to head, used as the template of every test database."""
    name = f"converge_tmpl_{uuid.uuid4().hex[:8]}"
    upgrade(_create_database(name))
    yield name
    _drop_database(name)


@pytest.fixture
def database_url(migrated_template: str) -> Iterator[str]:
    """A libpq URL of a fresh database at the newest schema, dropped after the test."""
    name = f"converge_test_{uuid.uuid4().hex[:12]}"
    url = _create_database(name, template=migrated_template)
    yield url
    _drop_database(name)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A libpq URL of a fresh database with no schema at all, dropped after the test."""
    name = f"converge_empty_{uuid.uuid4().hex[:12]}"
    yield _create_database(name)
    _drop_database(name)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets environment variables (DATABASE_URL=...) for code that reads the process settings."""

    def setenv(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield setenv
    get_settings.cache_clear()  # monkeypatch restores the variables: read them afresh


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL on a database number reserved for tests, flushed before and after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 API over HTTP on loopback (moto's server mode), with test credentials exported."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {key: os.environ.get(key) for key in _S3_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the loopback S3 server."""
    import boto3

    name = f"converge-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def h2o_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real H2O-3 JVM for the whole session (TEST_H2O_MAX_MEM heap, default 3G; 2 threads).

    Yields the h2o module. Its URL is exported as H2O_URL so that subprocesses (Dagster runs) join
    the same cluster.
    """
    import h2o

    port = free_port()
    export_h2o_java_home()
    h2o.init(
        port=port,
        nthreads=2,
        max_mem_size=os.environ.get("TEST_H2O_MAX_MEM", "3G"),
        bind_to_localhost=True,
        log_dir=str(tmp_path_factory.mktemp("h2o-logs")),
        verbose=False,
    )
    h2o.no_progress()
    # Not `port`: h2o.init moves the JVM to a higher pair when port + 1 is taken.
    os.environ["H2O_URL"] = h2o.connection().base_url
    yield h2o
    os.environ.pop("H2O_URL", None)
    h2o.cluster().shutdown()


@pytest.fixture(scope="session")
def shipped_kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """numba kernels compiled by `converge mojo compile-cache`, as the serving image build does."""
    directory = tmp_path_factory.mktemp("image") / "numba-kernels"
    command = "from converge.cli import main; main()"
    subprocess.run(
        [sys.executable, "-c", command, "mojo", "compile-cache", "--dir", str(directory)],
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    return directory

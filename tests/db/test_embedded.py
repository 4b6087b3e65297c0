"""With no DATABASE_URL, converge starts a real embedded PostgreSQL under CONVERGE_HOME."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from shared.db import database_url
from shared.db.migrate import head_revision, upgrade
from shared.settings import Settings


def test_unset_database_url_starts_an_embedded_server_that_takes_the_schema(
    tmp_path: Path,
) -> None:
    settings = Settings(converge_home=tmp_path / "home", database_url=None)
    url = database_url(settings)
    assert (tmp_path / "home" / "pgdata" / "PG_VERSION").exists()
    upgrade(url)
    with psycopg.connect(url) as conn:
        (version,) = conn.execute("SHOW server_version_num").fetchone() or (0,)
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
        (index,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'feature_store_dynamic_features_gin'"
        ).fetchone() or ("",)
    assert int(version) >= 160000
    assert revision == head_revision()
    assert "USING gin (dynamic_features jsonb_path_ops)" in index
    assert database_url(settings) == url  # joined, not started twice


def test_a_database_url_of_another_kind_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must start with postgresql://"):
        Settings(database_url="mysql://root@localhost/db")


def test_an_artifact_store_of_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValidationError, match="ARTIFACT_STORE_URI must start with file://"):
        Settings(artifact_store_uri="gs://bucket/prefix")

"""Fixtures for the serving tests: real champions trained by H2O, a registry, feature rows.

MOJOs are trained once per session on the `h2o_cluster` fixture (small GBMs on the prostate data
shipped with the h2o wheel); each test registers and promotes them in its own database.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from serving.config import ServingSettings
from shared.artifacts import ArtifactStore, open_artifact_store
from shared.registry import NewModel, promote, register_model
from shared.settings import Settings
from shared.versions import pinned_versions
from tests.handmade_mojo import write_glm_mojo
from tests.serving.services import PrivatePostgres, PrivateRedis, migrated

FEATURES = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


@dataclass(frozen=True)
class TrainedMojo:
    """A MOJO file made by the real H2O and what it was trained on."""

    path: Path
    algo: str
    features: list[str]


def _train(h2o: Any, frame: Any, out_dir: Path, ntrees: int, max_depth: int) -> TrainedMojo:
    from h2o.estimators import H2OGradientBoostingEstimator

    model = H2OGradientBoostingEstimator(ntrees=ntrees, max_depth=max_depth, seed=7)
    model.train(x=FEATURES, y="CAPSULE", training_frame=frame)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = Path(model.download_mojo(str(out_dir)))
    return TrainedMojo(path, "gbm", FEATURES)


@pytest.fixture(scope="session")
def trained_mojos(h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> list[TrainedMojo]:
    """Two different small binomial GBM MOJOs (first: 5 trees, second: 8 deeper trees)."""
    import h2o

    csv = Path(h2o.__file__).parent / "h2o_data" / "prostate.csv"
    frame = h2o_cluster.upload_file(str(csv))
    frame["CAPSULE"] = frame["CAPSULE"].asfactor()
    root = tmp_path_factory.mktemp("mojos")
    return [
        _train(h2o_cluster, frame, root / "a", 5, 3),
        _train(h2o_cluster, frame, root / "b", 8, 4),
    ]


class Registry:
    """One test's artifact store and model registry, driven the way training drives them."""

    def __init__(self, database_url: str, store_uri: str) -> None:
        self.database_url = database_url
        self.store_uri = store_uri
        self.store: ArtifactStore = open_artifact_store(store_uri)

    def register(self, mojo: TrainedMojo, *, h2o_version: str | None = None) -> int:
        """Store the MOJO and register it; returns the model_version."""
        stored = self.store.put_file(mojo.path)
        new = NewModel(
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
            git_commit_sha="test",
            h2o_version=h2o_version or pinned_versions().h2o_version,
            algo=mojo.algo,
            metrics={},
            training_config={},
            feature_list=mojo.features,
            orchestrator="cli",
        )
        with psycopg.connect(self.database_url) as conn:
            return register_model(conn, new).model_version

    def promote(self, model_version: int, *, allow_version_mismatch: bool = False) -> None:
        """Make `model_version` the champion (sends the NOTIFY serving listens to)."""
        with psycopg.connect(self.database_url) as conn:
            promote(
                conn, model_version, "test promotion", allow_version_mismatch=allow_version_mismatch
            )

    def artifact_path(self, model_version: int) -> Path:
        """Where the file store keeps a model's bytes (for corrupting it on purpose)."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT artifact_uri FROM model_registry WHERE model_version = %s", (model_version,)
            ).fetchone()
        assert row is not None
        return Path(row[0].removeprefix("file://"))


def write_features(database_url: str, rows: dict[str, dict[str, Any]]) -> None:
    """Insert one feature-store row per entity (the trigger fills feature_latest)."""
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        conn.cursor().executemany(
            "INSERT INTO feature_store (entity_id, event_timestamp, dynamic_features) "
            "VALUES (%s, %s, %s)",
            [(entity_id, now, Jsonb(features)) for entity_id, features in rows.items()],
        )


def with_other_h2o_version(mojo: Path, out: Path, h2o_version: str) -> Path:
    """A copy of a MOJO whose model.ini claims another h2o_version."""
    with zipfile.ZipFile(mojo) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "model.ini":
                lines = [
                    f"h2o_version = {h2o_version}" if line.startswith("h2o_version") else line
                    for line in data.decode().splitlines()
                ]
                data = ("\n".join(lines) + "\n").encode()
            target.writestr(item, data)
    return out


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Registry:
    """An empty registry in this test's database with a file artifact store."""
    return Registry(database_url, (tmp_path / "artifacts").as_uri())


@pytest.fixture
def champion(registry: Registry, trained_mojos: list[TrainedMojo]) -> int:
    """The first trained MOJO registered and promoted; returns its model_version."""
    return _promote_first(registry, trained_mojos)


def _promote_first(registry: Registry, trained_mojos: list[TrainedMojo]) -> int:
    version = registry.register(trained_mojos[0])
    registry.promote(version)
    return version


# In the one statement that reads the newest feature rows (counted in the query log).
LATEST_ROWS_SQL = "FROM feature_latest"

DEFAULTS: dict[str, Any] = {
    "AGE": 65,
    "RACE": 1,
    "DPROS": 2,
    "DCAPS": 1,
    "PSA": 10.0,
    "VOL": 15.0,
    "GLEASON": 6,
}
PATIENT = {"AGE": 71, "RACE": 1, "DPROS": 3, "DCAPS": 2, "PSA": 35.0, "VOL": 0.0, "GLEASON": 8}


def serving_settings(tmp_path: Path, **overrides: Any) -> ServingSettings:
    """Serving settings for a test: fast polling, the DEFAULTS vector, a private model cache."""
    values: dict[str, Any] = {
        "default_features": DEFAULTS,
        "model_poll_interval_s": 0.5,
        "model_cache_dir": str(tmp_path / "model-cache"),
        "loop_lag_interval_s": 0.02,
        **overrides,
    }
    return ServingSettings(**values)


def settings_for(registry: Registry, redis_url: str, tmp_path: Path) -> Settings:
    """Connection settings pointing at the test's database, Redis and artifact store."""
    return Settings(
        database_url=registry.database_url,
        redis_url=redis_url,
        artifact_store_uri=registry.store_uri,
        converge_home=tmp_path / "home",
    )


def serving_env(registry: Registry, redis_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment variables that point a uvicorn subprocess at the test's services."""
    return {
        "DATABASE_URL": registry.database_url,
        "REDIS_URL": redis_url,
        "ARTIFACT_STORE_URI": registry.store_uri,
        "CONVERGE_HOME": str(tmp_path / "home"),
        "CONVERGE_SERVING_DEFAULT_FEATURES": json.dumps(DEFAULTS),
        "CONVERGE_SERVING_MODEL_POLL_INTERVAL_S": "0.5",
        **extra,
    }


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis of this test's own, which the test may kill and restart."""
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A migrated PostgreSQL of this test's own, which the test may stop and restart."""
    with migrated(PrivatePostgres()) as server:
        yield server


@pytest.fixture
def private_registry(private_postgres: PrivatePostgres, tmp_path: Path) -> Registry:
    """An empty registry on this test's private PostgreSQL, with a file artifact store."""
    return Registry(private_postgres.url, (tmp_path / "artifacts").as_uri())


@pytest.fixture
def private_champion(private_registry: Registry, trained_mojos: list[TrainedMojo]) -> int:
    """`champion` on the private registry."""
    return _promote_first(private_registry, trained_mojos)


def glm_mojo(tmp_path: Path, intercept: float = 10.0) -> TrainedMojo:
    """A real (hand-made) GLM MOJO reading `colour` and `size`: no H2O JVM needed."""
    path = write_glm_mojo(tmp_path / f"glm-{intercept}.zip", intercept)
    return TrainedMojo(path, "glm", ["colour", "size"])


@pytest.fixture
def glm_champion(registry: Registry, tmp_path: Path) -> int:
    """The hand-made GLM registered and promoted; returns its model_version."""
    version = registry.register(glm_mojo(tmp_path))
    registry.promote(version)
    return version


@pytest.fixture
def private_glm_champion(private_registry: Registry, tmp_path: Path) -> int:
    """`glm_champion` on the private registry."""
    version = private_registry.register(glm_mojo(tmp_path))
    private_registry.promote(version)
    return version

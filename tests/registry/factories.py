"""Model registrations for the registry tests."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

from shared.artifacts import open_artifact_store
from shared.registry import NewModel
from shared.versions import pinned_versions
from tests.handmade_mojo import FEATURES, write_glm_mojo


def new_model(h2o_version: str | None = None, **overrides: Any) -> NewModel:
    """A plausible model registration with a unique artifact."""
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    fields: dict[str, Any] = {
        "artifact_uri": f"s3://models/sha256/{digest}/model.zip",
        "artifact_sha256": digest,
        "git_commit_sha": "0123456789abcdef0123456789abcdef01234567",
        "h2o_version": h2o_version or pinned_versions().h2o_version,
        "algo": "gbm",
        "metrics": {"auc": 0.81, "logloss": 0.47},
        "training_config": {"ntrees": 5, "seed": 1},
        "feature_list": ["AGE", "PSA", "GLEASON"],
        "orchestrator": "dagster",
    }
    fields.update(overrides)
    return NewModel(**fields)


def stored_model(store_uri: str, h2o_version: str | None = None, **overrides: Any) -> NewModel:
    """A registration whose artifact is a real (hand-made GLM) MOJO stored in `store_uri`."""
    with tempfile.TemporaryDirectory() as scratch:
        mojo = write_glm_mojo(
            Path(scratch) / "model.zip",
            intercept=uuid.uuid4().int % 10_000 / 7,
            h2o_version=h2o_version,
        )
        stored = open_artifact_store(store_uri).put_file(mojo)
    fields = {
        "artifact_uri": stored.uri,
        "artifact_sha256": stored.sha256,
        "feature_list": FEATURES,
    }
    return new_model(h2o_version, **{**fields, **overrides})

"""Model registrations for the registry tests."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from shared.registry import NewModel
from shared.versions import pinned_versions


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
    }
    fields.update(overrides)
    return NewModel(**fields)

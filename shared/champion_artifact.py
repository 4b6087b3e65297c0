"""Whether a registered model can be served: its artifact fetched from the store, verified, loaded.

One definition for both sides: `converge registry promote` (and the champion asset) run it before
writing a promotion, and serving runs it before swapping a champion in. Every refusal carries a
short reason (the metric label) and a message naming the cause.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from shared.artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactOutsideStoreError,
    open_artifact_store,
)
from shared.mojo import MojoModel, UnsupportedMojoError, load_mojo
from shared.registry import ModelRecord

REFUSAL_REASONS = ("missing", "outside_store", "sha256", "h2o_version", "unsupported")


class ArtifactRefusedError(Exception):
    """A model version whose artifact cannot be served; `reason` is one of REFUSAL_REASONS.

    `found` is the h2o version found, for an `h2o_version` refusal (serving's mismatch metric).
    """

    def __init__(
        self, model_version: int, reason: str, message: str, found: str | None = None
    ) -> None:
        super().__init__(f"model_version {model_version} refused: {message}")
        self.model_version = model_version
        self.reason = reason
        self.found = found


def load_verified_mojo(
    record: ModelRecord, store_uri: str, dest: Path, expected_h2o_version: str | None
) -> MojoModel:
    """Fetch `record`'s artifact from the store into `dest`, check it and load it, or refuse.

    `expected_h2o_version` None accepts any h2o version (a promotion that allows the mismatch).
    """
    version = record.model_version
    if expected_h2o_version is not None and record.h2o_version != expected_h2o_version:
        raise ArtifactRefusedError(
            version,
            "h2o_version",
            f"registered h2o_version {record.h2o_version} differs from versions.env "
            f"H2O_VERSION {expected_h2o_version}",
            found=record.h2o_version,
        )
    store = open_artifact_store(store_uri)
    try:
        path = store.fetch_verified(record.artifact_uri, record.artifact_sha256, dest)
    except ArtifactNotFoundError as exc:
        raise ArtifactRefusedError(version, "missing", str(exc)) from exc
    except ArtifactOutsideStoreError as exc:
        raise ArtifactRefusedError(version, "outside_store", str(exc)) from exc
    except ArtifactIntegrityError as exc:
        raise ArtifactRefusedError(version, "sha256", str(exc)) from exc
    try:
        mojo = load_mojo(path)
    except UnsupportedMojoError as exc:
        raise ArtifactRefusedError(version, "unsupported", str(exc)) from exc
    if not isinstance(mojo, MojoModel):
        raise ArtifactRefusedError(
            version, "unsupported", "a Driverless AI pipeline; serving scores H2O-3 MOJOs"
        )
    if expected_h2o_version is not None and mojo.h2o_version != expected_h2o_version:
        raise ArtifactRefusedError(
            version,
            "h2o_version",
            f"MOJO was written by h2o {mojo.h2o_version}, versions.env pins "
            f"H2O_VERSION {expected_h2o_version}",
            found=mojo.h2o_version,
        )
    return mojo


def verify_promotable(
    record: ModelRecord, store_uri: str, expected_h2o_version: str | None
) -> None:
    """Refuse (ArtifactRefusedError) a model whose artifact serving could not load."""
    with tempfile.TemporaryDirectory(prefix="converge-verify-") as scratch:
        load_verified_mojo(record, store_uri, Path(scratch), expected_h2o_version)

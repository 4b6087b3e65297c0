"""Artifact store resource: where MOJOs go (an S3 bucket or a folder), content-addressed."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from shared.artifacts import ArtifactStore, open_artifact_store
from shared.settings import Settings


class ArtifactStoreResource(ConfigurableResource["ArtifactStoreResource"]):
    """An artifact store by URI (`file://...` or `s3://bucket/prefix`); unset: settings."""

    uri: str | None = Field(default=None, description="Store URI; unset: ARTIFACT_STORE_URI.")

    def open(self) -> ArtifactStore:
        """The store client."""
        return open_artifact_store(self.uri or Settings().resolved_artifact_store_uri)

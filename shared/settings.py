"""The one settings class of converge, read from the environment (and an optional `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Component = Literal["ingest", "training", "serving", "admin"]
"""A part of converge with its own database role (see the 0003 migration)."""

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _component_url(role: str, who: str) -> Any:
    return Field(
        default=None,
        description=f"PostgreSQL URL of {who} (a login user granted {role}). Unset: DATABASE_URL.",
    )


class Settings(BaseSettings):
    """Connection settings shared by every converge component."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    converge_home: Path = Field(
        default=Path(".converge"),
        description="Folder for local state: embedded PostgreSQL data, artifacts, Dagster home.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL (pgserver) under CONVERGE_HOME.",
    )
    converge_ingest_database_url: str | None = _component_url(
        "converge_ingest", "`converge ingest`"
    )
    converge_training_database_url: str | None = _component_url(
        "converge_training", "training (Dagster assets, `converge registry register`)"
    )
    converge_serving_database_url: str | None = _component_url(
        "converge_serving", "the serving app"
    )
    converge_admin_database_url: str | None = _component_url(
        "converge_admin", "promotions and rollbacks (CLI, the champion asset)"
    )
    converge_log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text (time, level, logger, message) or JSON."
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis URL of the serving feature cache."
    )
    artifact_store_uri: str | None = Field(
        default=None,
        description="Where MOJOs are stored: file:///path or s3://bucket/prefix "
        "(AWS_* variables incl. AWS_ENDPOINT_URL apply). Unset: CONVERGE_HOME/artifacts.",
    )
    h2o_cloud_name: str = Field(
        default="converge", description="Name of the H2O cloud that `converge h2o node` joins."
    )
    h2o_cloud_size: int | None = Field(
        default=None,
        ge=1,
        description="Nodes the H2O cloud must have: training refuses a smaller cloud or one with a "
        "lost node. Unset: not checked.",
    )
    h2o_flatfile: Path | None = Field(
        default=None,
        description="The H2O cloud's nodes, one `ip:port` (REST port) a line, for "
        "`converge h2o node`. Unset: H2O's own discovery (Kubernetes DNS or multicast).",
    )
    h2o_port: int = Field(
        default=54321,
        ge=1,
        le=65534,
        description="REST port of a node started by `converge h2o node` (nodes talk on port + 1).",
    )
    h2o_node_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Seconds without a heartbeat (H2O sends one a second) before training "
        "declares a node of the cloud lost.",
    )

    @field_validator(
        "database_url",
        "converge_ingest_database_url",
        "converge_training_database_url",
        "converge_serving_database_url",
        "converge_admin_database_url",
    )
    @classmethod
    def _postgres_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(_POSTGRES_SCHEMES):
            setting = str(info.field_name).upper()
            raise ValueError(f"{setting} must start with postgresql:// or postgres://")
        return value

    def component_database_url(self, component: Component) -> str | None:
        """The URL set for `component`, else DATABASE_URL (None: the embedded default)."""
        own: str | None = getattr(self, f"converge_{component}_database_url")
        return own or self.database_url

    @field_validator("artifact_store_uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file://", "s3://")):
            raise ValueError("ARTIFACT_STORE_URI must start with file:// or s3://")
        return value

    @property
    def resolved_artifact_store_uri(self) -> str:
        """The artifact store URI, defaulting to a folder under CONVERGE_HOME."""
        if self.artifact_store_uri:
            return self.artifact_store_uri
        return (self.converge_home / "artifacts").resolve().as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

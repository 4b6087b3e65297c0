"""Model registry resource: immutable model versions and champion promotions in PostgreSQL."""

from __future__ import annotations

from dagster import ConfigurableResource

from resources.postgres import PostgresResource
from shared.champion_artifact import verify_promotable
from shared.registry import (
    Champion,
    DuplicateArtifactError,
    ModelRecord,
    NewModel,
    current_champion,
    get_model,
    list_models,
    promote,
    promotion_history,
)
from shared.registry import register_model as registry_register
from shared.settings import Settings
from shared.versions import pinned_versions


class ModelRegistryResource(ConfigurableResource["ModelRegistryResource"]):
    """The registry tables: registered as training (`postgres`), promoted as admin (`admin`)."""

    postgres: PostgresResource
    admin: PostgresResource

    def register(self, new: NewModel) -> ModelRecord:
        """Register `new`, or return the version already holding the same artifact."""
        with self.postgres.connect() as conn:
            try:
                return registry_register(conn, new)
            except DuplicateArtifactError as duplicate:
                return get_model(conn, duplicate.model_version)

    def champion(self) -> Champion | None:
        """The current champion, if any model was ever promoted."""
        with self.postgres.connect() as conn:
            return current_champion(conn)

    def versions(self) -> list[ModelRecord]:
        """Every registered model version, oldest first."""
        with self.postgres.connect() as conn:
            return list_models(conn)

    def promotions(self) -> list[Champion]:
        """Every promotion, newest first."""
        with self.postgres.connect() as conn:
            return promotion_history(conn)

    def promote(self, model_version: int, reason: str) -> Champion:
        """Promote `model_version` once its artifact is verified loadable, recording `reason`."""
        with self.admin.connect() as conn:
            verify_promotable(
                get_model(conn, model_version),
                Settings().resolved_artifact_store_uri,
                pinned_versions().h2o_version,
            )
            return promote(conn, model_version, reason)

"""Model registry resource: immutable model versions and champion promotions in PostgreSQL."""

from __future__ import annotations

from dagster import ConfigurableResource

from resources.postgres import PostgresResource
from shared.registry import Champion, ModelRecord, NewModel, current_champion, promote
from shared.registry import list_models as registry_models
from shared.registry import register_model as registry_register


class ModelRegistryResource(ConfigurableResource["ModelRegistryResource"]):
    """The registry tables: registered as training (`postgres`), promoted as admin (`admin`)."""

    postgres: PostgresResource
    admin: PostgresResource

    def register(self, new: NewModel) -> ModelRecord:
        """Register `new`, or return the version already holding the same artifact."""
        with self.postgres.connect() as conn:
            for record in registry_models(conn):
                if record.artifact_sha256 == new.artifact_sha256:
                    return record
            return registry_register(conn, new)

    def champion(self) -> Champion | None:
        """The current champion, if any model was ever promoted."""
        with self.postgres.connect() as conn:
            return current_champion(conn)

    def promote(self, model_version: int, reason: str) -> Champion:
        """Promote `model_version`, recording `reason` (and the admin login as the actor)."""
        with self.admin.connect() as conn:
            return promote(conn, model_version, reason)

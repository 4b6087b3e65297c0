"""Training policy resource: the knobs of the training graph, set per environment in one place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field

from resources.memory_split import training_concurrency
from shared.leaderboard import HIGHER_IS_BETTER

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_CONFIGS = REPOSITORY_ROOT / "config" / "model_configs.yaml"
TRAINING_POOL = "h2o_training"
MODEL_CONFIGS_ENV = "CONVERGE_MODEL_CONFIGS"

Metric = Literal["auc", "logloss", "rmse", "mae"]


class TrainingPolicy(ConfigurableResource["TrainingPolicy"]):
    """What to train, how to judge it and how many trainings may run at once."""

    model_configs_path: str | None = Field(
        default=None,
        description="YAML config matrix; unset: CONVERGE_MODEL_CONFIGS, else the shipped one.",
    )
    metric: Metric = Field(default="auc", description="Validation metric that picks the champion.")
    promotion_margin: float = Field(
        default=0.0, ge=0, description="How much a new champion must beat the current one by."
    )
    metric_floor: float = Field(default=0.6, description="Asset check: the champion must reach it.")
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    min_training_rows: int = Field(default=100, ge=1)
    retrain_after_new_rows: int = Field(
        default=1000, ge=1, description="Sensor: new feature rows that trigger retraining."
    )
    node_memory: str = Field(default="8g", description="Memory of the training node.")
    task_memory: str = Field(default="4g", description="Memory one training needs.")
    configs_per_run: int | None = Field(
        default=None,
        ge=1,
        description="Configs one fan-out run trains back to back; unset: one run per pool slot.",
    )

    def configs_path(self) -> Path:
        """The config matrix file this policy trains from."""
        configured = self.model_configs_path or os.environ.get(MODEL_CONFIGS_ENV)
        return Path(configured) if configured else DEFAULT_MODEL_CONFIGS

    def concurrency_limit(self) -> int:
        """Trainings allowed at once: floor(node_memory / task_memory)."""
        return training_concurrency(self.node_memory, self.task_memory)

    def better(self, value: float, than: float, margin: float = 0.0) -> bool:
        """Whether metric `value` beats `than` by more than `margin`."""
        if self.metric in HIGHER_IS_BETTER:
            return value > than + margin
        return value < than - margin

"""The candidate config matrix (algorithm x hyperparameters), registered as dynamic partitions."""

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dagster import AssetExecutionContext, DynamicPartitionsDefinition, MetadataValue, Output, asset

from assets.groups import PREPARE
from resources.training_policy import TrainingPolicy

AUTOML = "automl"
# `automl` is one candidate (H2OAutoML's parameters, lists as given); the others are grids.
ALGORITHMS = frozenset({"gbm", "drf", "glm", "xgboost", AUTOML})
MODEL_CONFIG_PARTITIONS = "model_configs"
model_config_partitions = DynamicPartitionsDefinition(name=MODEL_CONFIG_PARTITIONS)
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.]+")


class ModelConfigError(ValueError):
    """The config matrix file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class ModelConfig:
    """One candidate: an H2O algorithm and its estimator parameters."""

    name: str
    algo: str
    params: dict[str, Any]


def _slug(value: Any) -> str:
    return _KEY_UNSAFE.sub("_", str(value))


def expand_matrix(matrix: dict[str, Any], source: str = "config") -> list[ModelConfig]:
    """Expand {algo: {param: value or [values]}} into one ModelConfig per grid point.

    `automl` is not a grid: its parameters (include_algos is a list) make the one config `automl`.
    """
    if not isinstance(matrix, dict) or not matrix:
        raise ModelConfigError(f"{source}: expected a mapping of algorithm -> parameters")
    configs: list[ModelConfig] = []
    for algo, params in matrix.items():
        if algo not in ALGORITHMS:
            known = ", ".join(sorted(ALGORITHMS))
            raise ModelConfigError(f"{source}: unknown algorithm {algo!r} (known: {known})")
        if not isinstance(params, dict):
            raise ModelConfigError(f"{source}: {algo}: expected a mapping of parameters")
        if algo == AUTOML:
            configs.append(ModelConfig(name=AUTOML, algo=AUTOML, params=dict(params)))
            continue
        axes = {key: value for key, value in params.items() if isinstance(value, list)}
        fixed = {key: value for key, value in params.items() if not isinstance(value, list)}
        for key, values in axes.items():
            if not values:
                raise ModelConfigError(f"{source}: {algo}.{key}: an empty list gives no candidate")
        for point in itertools.product(*axes.values()):
            varied = dict(zip(axes, point, strict=True))
            name = "-".join([algo, *(f"{_slug(k)}{_slug(v)}" for k, v in varied.items())])
            configs.append(ModelConfig(name=name, algo=algo, params={**fixed, **varied}))
    names = [config.name for config in configs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ModelConfigError(f"{source}: duplicate candidate names: {', '.join(duplicates)}")
    return configs


def load_model_configs(path: Path) -> list[ModelConfig]:
    """Read and expand the YAML config matrix at `path`."""
    try:
        matrix = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelConfigError(f"cannot read model configs {path}: {exc}") from exc
    return expand_matrix(matrix, str(path))


@asset(group_name=PREPARE)
def model_configs(
    context: AssetExecutionContext, training_policy: TrainingPolicy
) -> Output[dict[str, ModelConfig]]:
    """The config matrix; registers one `model_configs` partition per config, drops stale ones."""
    configs = load_model_configs(training_policy.configs_path())
    wanted = [config.name for config in configs]
    existing = set(context.instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS))
    added = [name for name in wanted if name not in existing]
    removed = sorted(existing - set(wanted))
    context.instance.add_dynamic_partitions(MODEL_CONFIG_PARTITIONS, added)
    for name in removed:
        context.instance.delete_dynamic_partition(MODEL_CONFIG_PARTITIONS, name)
    table = "\n".join(
        ["| config | algo | parameters |", "| --- | --- | --- |"]
        + [f"| {c.name} | {c.algo} | `{c.params}` |" for c in configs]
    )
    return Output(
        {config.name: config for config in configs},
        metadata={
            "configs": len(configs),
            "added": MetadataValue.json(added),
            "removed": MetadataValue.json(removed),
            "matrix": MetadataValue.md(table),
        },
    )

"""The config matrix: grid expansion, clear errors, and dynamic partitions kept in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from assets.model_configs import (
    MODEL_CONFIG_PARTITIONS,
    ModelConfigError,
    expand_matrix,
    load_model_configs,
    model_configs,
)
from resources.training_policy import DEFAULT_MODEL_CONFIGS, TrainingPolicy


def test_lists_are_grid_axes_and_scalars_are_fixed() -> None:
    configs = expand_matrix(
        {"gbm": {"ntrees": 10, "max_depth": [3, 5], "learn_rate": [0.1, 0.2]}, "glm": {}}
    )
    assert [c.name for c in configs] == [
        "gbm-max_depth3-learn_rate0.1",
        "gbm-max_depth3-learn_rate0.2",
        "gbm-max_depth5-learn_rate0.1",
        "gbm-max_depth5-learn_rate0.2",
        "glm",
    ]
    assert configs[1].params == {"ntrees": 10, "max_depth": 3, "learn_rate": 0.2}
    assert configs[4].params == {}


def test_shipped_matrix_has_at_least_six_configs() -> None:
    configs = load_model_configs(DEFAULT_MODEL_CONFIGS)
    assert len(configs) >= 6
    assert {c.algo for c in configs} == {"gbm", "drf", "glm", "xgboost", "automl"}
    assert [c.name for c in configs].count("automl") == 1


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({"catboost": {}}, "unknown algorithm 'catboost'"),
        ({"gbm": [1, 2]}, "gbm: expected a mapping"),
        ({"gbm": {"max_depth": []}}, "gbm.max_depth: an empty list"),
        ({"gbm": {"seed": ["a b", "a_b"]}}, "duplicate candidate names: gbm-seeda_b"),
        ([], "expected a mapping of algorithm"),
    ],
)
def test_malformed_matrix_is_named(matrix: object, message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        expand_matrix(matrix, "m.yaml")  # type: ignore[arg-type]


def test_unreadable_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("gbm: [unclosed")
    with pytest.raises(ModelConfigError, match=r"cannot read model configs .*bad\.yaml"):
        load_model_configs(path)


def test_asset_adds_new_and_removes_vanished_partitions(tmp_path: Path) -> None:
    path = tmp_path / "configs.yaml"
    instance = DagsterInstance.ephemeral()
    policy = TrainingPolicy(model_configs_path=str(path))

    path.write_text("gbm:\n  max_depth: [2, 3]\nglm: {}\n")
    assert materialize([model_configs], instance=instance, resources={"training_policy": policy})
    assert sorted(instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS)) == [
        "gbm-max_depth2",
        "gbm-max_depth3",
        "glm",
    ]

    path.write_text("gbm:\n  max_depth: [3, 4]\n")
    result = materialize([model_configs], instance=instance, resources={"training_policy": policy})
    assert sorted(instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS)) == [
        "gbm-max_depth3",
        "gbm-max_depth4",
    ]
    metadata = result.asset_materializations_for_node("model_configs")[0].metadata
    assert metadata["added"].value == ["gbm-max_depth4"]
    assert metadata["removed"].value == ["gbm-max_depth2", "glm"]


def test_bad_matrix_fails_the_asset_and_keeps_partitions(tmp_path: Path) -> None:
    path = tmp_path / "configs.yaml"
    instance = DagsterInstance.ephemeral()
    policy = TrainingPolicy(model_configs_path=str(path))
    path.write_text("drf:\n  max_depth: [5]\n")
    materialize([model_configs], instance=instance, resources={"training_policy": policy})
    path.write_text("boosting: {}\n")
    result = materialize(
        [model_configs],
        instance=instance,
        resources={"training_policy": policy},
        raise_on_error=False,
    )
    assert not result.success
    assert instance.get_dynamic_partitions(MODEL_CONFIG_PARTITIONS) == ["drf-max_depth5"]

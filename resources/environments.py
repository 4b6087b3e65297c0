"""The resources of each environment, chosen in one place: local (a laptop, CI) or Kubernetes."""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar, FilesystemIOManager

from resources.artifact_store import ArtifactStoreResource
from resources.h2o import H2OResource
from resources.postgres import PostgresResource
from resources.registry import ModelRegistryResource
from resources.training_policy import TrainingPolicy

ENVIRONMENT_ENV = "CONVERGE_DAGSTER_ENV"
NODE_MEMORY_ENV = "CONVERGE_NODE_MEMORY"
TASK_MEMORY_ENV = "CONVERGE_TASK_MEMORY"
CONFIGS_PER_RUN_ENV = "CONVERGE_CONFIGS_PER_RUN"
# Both set the training pool limit in every environment (the README table shows these defaults).
DEFAULT_NODE_MEMORY = {"local": "8g", "k8s": "32g"}
DEFAULT_TASK_MEMORY = "4g"


def environment() -> str:
    """The environment named by CONVERGE_DAGSTER_ENV (default: local)."""
    name = os.environ.get(ENVIRONMENT_ENV, "local")
    if name not in DEFAULT_NODE_MEMORY:
        raise ValueError(
            f"{ENVIRONMENT_ENV}={name!r}: expected one of {sorted(DEFAULT_NODE_MEMORY)}"
        )
    return name


def configs_per_run() -> int | None:
    """CONVERGE_CONFIGS_PER_RUN as a whole number >= 1; unset or empty: None (one run per slot)."""
    text = os.environ.get(CONFIGS_PER_RUN_ENV, "").strip()
    if not text:
        return None
    if not text.isdecimal() or int(text) < 1:
        raise ValueError(f"{CONFIGS_PER_RUN_ENV}={text!r}: expected a whole number >= 1")
    return int(text)


def get_training_policy() -> TrainingPolicy:
    """The environment's policy; CONVERGE_NODE_MEMORY / CONVERGE_TASK_MEMORY set its pool limit."""
    return TrainingPolicy(
        node_memory=os.environ.get(NODE_MEMORY_ENV, DEFAULT_NODE_MEMORY[environment()]),
        task_memory=os.environ.get(TASK_MEMORY_ENV, DEFAULT_TASK_MEMORY),
        configs_per_run=configs_per_run(),
    )


def get_local_resources() -> dict[str, Any]:
    """One shared H2O cluster (H2O_URL, which `converge demo` starts), local files for outputs."""
    postgres = PostgresResource()
    return {
        "postgres": postgres,
        "model_registry": ModelRegistryResource(
            postgres=postgres, admin=PostgresResource(component="admin")
        ),
        "artifact_store": ArtifactStoreResource(),
        "h2o": H2OResource(),
        "training_policy": get_training_policy(),
        # Default base_dir: the instance's storage folder, shared by every run on this machine.
        "io_manager": FilesystemIOManager(),
    }


def get_k8s_resources() -> dict[str, Any]:
    """One H2O JVM per training pod sized from its cgroup limit; outputs in S3."""
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    postgres = PostgresResource()
    policy = get_training_policy()
    return {
        "postgres": postgres,
        "model_registry": ModelRegistryResource(
            postgres=postgres, admin=PostgresResource(component="admin")
        ),
        "artifact_store": ArtifactStoreResource(),
        "h2o": H2OResource(task_memory=policy.task_memory),
        "training_policy": policy,
        "io_manager": S3PickleIOManager(
            s3_resource=S3Resource(), s3_bucket=EnvVar("CONVERGE_DAGSTER_IO_BUCKET")
        ),
    }


def get_resources() -> dict[str, Any]:
    """The resources of the environment named by CONVERGE_DAGSTER_ENV (default: local)."""
    factories = {"local": get_local_resources, "k8s": get_k8s_resources}
    return factories[environment()]()

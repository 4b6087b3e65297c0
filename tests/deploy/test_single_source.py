"""deploy/ takes every version from versions.env; a hard-coded other version fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from shared.versions import REPOSITORY_ROOT, pinned_versions
from tests.deploy.single_source import expected_image_tag, violations

DEPLOY = REPOSITORY_ROOT / "deploy"
PROJECT_VERSION: str = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())["project"][
    "version"
]


def test_deploy_folder_follows_versions_env() -> None:
    assert violations(DEPLOY, pinned_versions().values, PROJECT_VERSION) == []


def test_manifests_use_the_tag_derived_from_versions_env() -> None:
    tag = expected_image_tag(pinned_versions().values, PROJECT_VERSION)
    text = (DEPLOY / "k8s" / "h2o.yaml").read_text()
    assert f"converge-training:{tag}" in text
    assert pinned_versions().h2o_version in tag


@pytest.mark.parametrize(
    ("relative", "old", "new", "complaint"),
    [
        ("k8s/h2o.yaml", "-h2o3.46.0.11", "-h2o3.46.0.10", "is not tagged"),
        ("k8s/serving.yaml", "converge-serving:0.1.0", "converge-serving:0.0.9", "is not tagged"),
        (
            "k8s/dagster-deployments.yaml",
            "image: converge-training",
            "image: busybox:1.36 #",
            "not one of",
        ),
        (
            "k8s/dagster-instance.yaml",
            "job_namespace:",
            "job_image: x/converge-training:latest\n        job_namespace:",
            "is not tagged",
        ),
        (
            "docker/serving.Dockerfile",
            "FROM ${SERVING_PYTHON_IMAGE}",
            "FROM python:3.12-slim",
            "FROM python:3.12-slim",
        ),
        (
            "docker/training.Dockerfile",
            "ARG JAVA_VERSION\n",
            "ARG JAVA_VERSION=21\n",
            "literal default 21",
        ),
        (
            "docker/training.Dockerfile",
            "# Training image",
            "# pip install h2o==3.44.0.3\n# Training image",
            "version 3.44.0.3",
        ),
        (
            "docker/build-args.sh",
            "set -euo pipefail",
            "set -euo pipefail\n# base: eclipse-temurin:21-jre",
            "eclipse-temurin:21-jre",
        ),
        (
            "docker/requirements-training.lock",
            "\nh2o==3.46.0.11",
            "\nh2o==3.46.0.12",
            "h2o==3.46.0.12",
        ),
    ],
)
def test_a_hard_coded_version_is_caught(
    tmp_path: Path, relative: str, old: str, new: str, complaint: str
) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    target = copy / relative
    text = target.read_text()
    assert old in text, f"{relative} no longer contains {old!r}: update this test"
    target.write_text(text.replace(old, new, 1))

    found = violations(copy, pinned_versions().values, PROJECT_VERSION)

    assert len(found) >= 1
    assert all(line.startswith(f"deploy/{relative}") for line in found)
    assert any(complaint in line for line in found), found


def _build_args(image: str) -> list[str]:
    completed = subprocess.run(
        ["bash", str(DEPLOY / "docker" / "build-args.sh"), image],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPOSITORY_ROOT,
    )
    return completed.stdout.split("\n")[:-1]


@pytest.mark.parametrize("image", ["serving", "training"])
def test_build_args_cover_every_dockerfile_arg(image: str) -> None:
    args = _build_args(image)
    given = {
        args[i + 1].split("=", 1)[0]: args[i + 1].split("=", 1)[1]
        for i, a in enumerate(args)
        if a == "--build-arg"
    }
    dockerfile = DEPLOY / "docker" / f"{image}.Dockerfile"
    declared = set(re.findall(r"^ARG\s+([A-Z0-9_]+)", dockerfile.read_text(), re.MULTILINE))

    assert declared <= set(given), (
        f"ARGs without a value from versions.env: {declared - set(given)}"
    )
    for key, value in pinned_versions().values.items():
        assert given[key] == value
    tag = expected_image_tag(pinned_versions().values, PROJECT_VERSION)
    assert args[args.index("--tag") + 1] == f"converge-{image}:{tag}"
    assert args[args.index("--file") + 1] == f"deploy/docker/{image}.Dockerfile"
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", given["CONVERGE_GIT_COMMIT"])


def test_build_args_reject_a_malformed_versions_file(tmp_path: Path) -> None:
    bad = tmp_path / "versions.env"
    bad.write_text("H2O_VERSION 3.46\n")
    completed = subprocess.run(
        ["bash", str(DEPLOY / "docker" / "build-args.sh"), "serving"],
        capture_output=True,
        text=True,
        env={"CONVERGE_VERSIONS_FILE": str(bad), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 1
    assert "not a KEY=VALUE line: H2O_VERSION 3.46" in completed.stderr
    unknown = subprocess.run(
        ["bash", str(DEPLOY / "docker" / "build-args.sh"), "gpu"], capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "usage" in unknown.stderr

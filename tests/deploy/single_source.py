"""The single-source rule for deploy/: every version in it is versions.env's (or derived from it).

Finds, in every file under a deploy folder, what would let an image or a manifest drift from
versions.env: an image tag of another converge/H2O version, a Dockerfile FROM with a literal image,
a build ARG with a literal default, a base image or H2O version other than the pinned one, a lock
pin of h2o or Dagster other than the pinned one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from shared.versions import PACKAGE_PINS, lock_pins

_IMAGE_KEYS = {"image", "job_image"}
_IMAGE_ENV = "DAGSTER_CURRENT_IMAGE"
_CONVERGE_IMAGE = re.compile(r"(?:^|/)converge-[a-z]+:(\S+)$")
_H2O_VERSION = re.compile(r"h2o\S{0,12}?(?<![\d.])(\d+\.\d+\.\d+\.\d+)(?![\d.])", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s+(\S+)", re.MULTILINE | re.IGNORECASE)
_ARG_DEFAULT = re.compile(r"^\s*ARG\s+([A-Z0-9_]+)\s*=\s*(\S+)", re.MULTILINE)
_BASE_IMAGES = {
    "SERVING_PYTHON_IMAGE": re.compile(r"(?<![\w/-])python:[\w.-]+"),
    "TRAINING_JAVA_IMAGE": re.compile(r"(?<![\w/-])eclipse-temurin:[\w.-]+"),
}


def expected_image_tag(pinned: Mapping[str, str], project_version: str) -> str:
    """The tag of converge's images: `<converge version>-h2o<H2O_VERSION>`."""
    return f"{project_version}-h2o{pinned['H2O_VERSION']}"


def images(node: Any) -> Iterator[str]:
    """Every image a YAML document names (`image:`, `job_image:`, DAGSTER_CURRENT_IMAGE), including
    inside embedded YAML such as a ConfigMap's dagster.yaml."""
    if isinstance(node, dict):
        if node.get("name") == _IMAGE_ENV and "value" in node:
            yield str(node["value"])
        for key, value in node.items():
            if key in _IMAGE_KEYS and isinstance(value, str):
                yield value
            elif isinstance(value, str) and str(key).endswith((".yaml", ".yml")):
                for document in yaml.safe_load_all(value):
                    yield from images(document)
            else:
                yield from images(value)
    elif isinstance(node, list):
        for item in node:
            yield from images(item)


def violations(deploy_dir: Path, pinned: Mapping[str, str], project_version: str) -> list[str]:
    """Every place under `deploy_dir` that states a version other than versions.env's."""
    found: list[str] = []
    tag = expected_image_tag(pinned, project_version)
    for path in sorted(p for p in deploy_dir.rglob("*") if p.is_file()):
        name = path.relative_to(deploy_dir.parent)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".lock":
            pins = lock_pins(path)
            for key, packages in PACKAGE_PINS.items():
                for package in packages:
                    if package in pins and pins[package] != pinned[key]:
                        found.append(f"{name}: {package}=={pins[package]}, {key}={pinned[key]}")
            continue
        documents = list(yaml.safe_load_all(text)) if path.suffix in {".yaml", ".yml"} else []
        for image in (image for document in documents for image in images(document)):
            match = _CONVERGE_IMAGE.search(image)
            if match is None:
                found.append(f"{name}: image {image} is not one of converge's images")
            elif match[1] != tag:
                found.append(f"{name}: image {image} is not tagged {tag}")
        for version in _H2O_VERSION.findall(text):
            if version != pinned["H2O_VERSION"]:
                found.append(f"{name}: version {version}, H2O_VERSION={pinned['H2O_VERSION']}")
        for key, pattern in _BASE_IMAGES.items():
            for image in pattern.findall(text):
                if image != pinned[key]:
                    found.append(f"{name}: base image {image}, {key}={pinned[key]}")
        if "Dockerfile" in path.name:
            for image in _FROM.findall(text):
                if not image.startswith("${"):
                    found.append(f"{name}: FROM {image} is not a build ARG from versions.env")
            for arg, default in _ARG_DEFAULT.findall(text):
                found.append(f"{name}: ARG {arg} has a literal default {default}")
    return found

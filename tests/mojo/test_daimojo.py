"""The daimojo extra: a Driverless AI pipeline.mojo without daimojo installed fails, naming it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shared.mojo import UnsupportedMojoError, load_mojo
from shared.mojo.daimojo_backend import DaimojoUnavailableError


def test_daimojo_is_not_installed_by_default() -> None:
    assert importlib.util.find_spec("daimojo") is None


def test_pipeline_without_daimojo_names_the_missing_package(tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.mojo"
    pipeline.write_bytes(b"\x10\x00\x00\x00FBUF")  # any bytes: daimojo is never reached
    with pytest.raises(DaimojoUnavailableError, match=r"daimojo package.*converge\[daimojo\]"):
        load_mojo(pipeline)
    assert issubclass(DaimojoUnavailableError, UnsupportedMojoError)

"""The shipped numba kernel cache: when a process uses it, and why not when it cannot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from converge.commands.mojo import mojo
from serving.config import ServingSettings
from shared.kernel_cache import MANIFEST, PORTABLE_CPU, use_shipped_cache

REPO = Path(__file__).resolve().parents[1]


def _edited(shipped: Path, tmp_path: Path, **fields: object) -> Path:
    """A copy of the shipped cache whose manifest says it was built for `fields`."""
    copy = Path(shutil.copytree(shipped, tmp_path / "edited"))
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, **fields}))
    return copy


def test_a_usable_cache_is_copied_and_its_cpu_selected(
    shipped_kernel_cache: Path, tmp_path: Path
) -> None:
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    assert use_shipped_cache(shipped_kernel_cache, env) is None
    assert env["NUMBA_CPU_NAME"] == PORTABLE_CPU and env["NUMBA_CPU_FEATURES"] == ""
    copied = sorted(p.relative_to(tmp_path / "numba") for p in (tmp_path / "numba").rglob("*.nbc"))
    assert copied == sorted(
        p.relative_to(shipped_kernel_cache) for p in shipped_kernel_cache.rglob("*.nbc")
    )


def test_every_kernel_loads_from_the_copied_cache_in_a_fresh_process(
    shipped_kernel_cache: Path, tmp_path: Path
) -> None:
    code = (
        "import os, pathlib, sys\n"
        "import converge.commands.serve, serving.config, shared.logs, shared.settings\n"
        "from shared.kernel_cache import use_shipped_cache, warm_kernels, compiled_kernels\n"
        "assert use_shipped_cache(pathlib.Path(os.environ['SHIPPED']), os.environ) is None\n"
        "assert 'numba' not in sys.modules, 'numba read its settings too early'\n"
        "warm_kernels()\n"
        "print(*compiled_kernels())\n"
    )
    env = {
        **os.environ,
        "SHIPPED": str(shipped_kernel_cache),
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    # From the cache: the forest and hyperplane walks, the layer sums and the decimal parser for
    # 32- and 64-bit string offsets; none compiled.
    assert done.stdout.split() == ["5", "0"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"python": "3.10"}, "stale: built for Python 3.10, this is Python 3."),
        ({"numba": "0.59.0"}, "stale: built with numba 0.59.0, this is numba "),
        ({"sources": {"/build/shared/mojo/kernel.py": "0" * 64}}, "stale: the kernel sources"),
        ({"machine": "aarch64"}, "CPU mismatch: built for aarch64, this machine is "),
    ],
)
def test_a_cache_built_for_another_key_is_not_used(
    shipped_kernel_cache: Path, tmp_path: Path, fields: dict[str, object], reason: str
) -> None:
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    why_not = use_shipped_cache(_edited(shipped_kernel_cache, tmp_path, **fields), env)
    assert why_not is not None and why_not.startswith(reason)
    assert env == {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    assert not (tmp_path / "numba").exists()


def test_a_cpu_asked_for_by_the_environment_keeps_the_cache_out(
    shipped_kernel_cache: Path, tmp_path: Path
) -> None:
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba"), "NUMBA_CPU_FEATURES": "+avx2"}
    assert use_shipped_cache(shipped_kernel_cache, env) == (
        "CPU mismatch: NUMBA_CPU_FEATURES='+avx2' here, the cache is for ''"
    )


def test_missing_unreadable_or_uncopyable_caches_say_why(
    shipped_kernel_cache: Path, tmp_path: Path
) -> None:
    assert use_shipped_cache(None, {}) == (
        "no shipped cache is configured (CONVERGE_SERVING_KERNEL_CACHE)"
    )
    absent = tmp_path / "absent"
    assert use_shipped_cache(absent, {}) == (
        f"cache missing: {absent / MANIFEST} not found (build it: converge mojo compile-cache)"
    )
    broken = Path(shutil.copytree(shipped_kernel_cache, tmp_path / "broken"))
    (broken / MANIFEST).write_text("{")
    assert (use_shipped_cache(broken, {}) or "").startswith(
        f"cache unreadable: {broken / MANIFEST}"
    )
    assert use_shipped_cache(shipped_kernel_cache, {}) == (
        "NUMBA_CACHE_DIR is not set (the shipped cache is copied there)"
    )
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    env = {"NUMBA_CACHE_DIR": str(not_a_folder)}
    why_not = use_shipped_cache(shipped_kernel_cache, env) or ""
    assert why_not.startswith(f"cannot copy the shipped cache into NUMBA_CACHE_DIR={not_a_folder}")
    assert "NUMBA_CPU_NAME" not in env


def test_compile_cache_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.nbi").write_text("")
    result = CliRunner().invoke(mojo, ["compile-cache", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path} is not empty: compile into an empty or new folder" in result.output


def test_an_empty_setting_turns_the_shipped_cache_off(settings_env: Callable[..., None]) -> None:
    settings_env(CONVERGE_SERVING_KERNEL_CACHE="")
    assert ServingSettings().kernel_cache is None

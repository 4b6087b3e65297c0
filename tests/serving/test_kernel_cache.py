"""A pod's cold start with an empty NUMBA_CACHE_DIR: with the shipped kernel cache, or compiling.

Each start is a real `converge serve` serving the real champion GBM. That no kernel was compiled is
read twice: from numba's own dispatcher statistics (the app's log line), and from the cache folder,
where numba saves every kernel it compiles (so its files must be exactly the shipped ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import llvmlite.binding
import pytest

from shared.kernel_cache import MANIFEST
from tests.deploy.converge_serve import converge_serve
from tests.serving.conftest import DEFAULTS, PATIENT, Registry, TrainedMojo, serving_env
from tests.serving.test_predict import h2o_p1

pytestmark = pytest.mark.h2o

ROWS = [PATIENT, DEFAULTS, {**PATIENT, "PSA": 1.5, "GLEASON": 5}]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _start(env: dict[str, str], log: Path) -> tuple[list[Any], str]:
    """Start `converge serve`, score ROWS inline; (predictions, the app's log)."""
    with converge_serve(env, log) as base:
        answers = [
            httpx.post(f"{base}/v1/predict", json={"features": row}, timeout=30) for row in ROWS
        ]
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    return [answer.json()["predictions"][0]["prediction"] for answer in answers], log.read_text()


def test_with_the_shipped_cache_nothing_compiles_and_scores_are_unchanged(
    registry: Registry, champion: int, redis_url: str, tmp_path: Path, shipped_kernel_cache: Path
) -> None:
    env = serving_env(registry, redis_url, tmp_path)
    normal, normal_log = _start({**env, "NUMBA_CACHE_DIR": str(tmp_path / "a")}, tmp_path / "a.log")
    assert "compile at start-up: no shipped cache is configured" in normal_log
    assert "0 loaded from the cache, 1 compiled" in normal_log  # the GBM's forest kernel
    assert len(list((tmp_path / "a").rglob("*.nbc"))) == 1  # what numba saves when it compiles

    pod_cache = tmp_path / "pod-numba"
    pod = {**env, "NUMBA_CACHE_DIR": str(pod_cache)}
    shipped, log = _start(
        {**pod, "CONVERGE_SERVING_KERNEL_CACHE": str(shipped_kernel_cache)}, tmp_path / "b.log"
    )
    assert f"using the shipped cache {shipped_kernel_cache}" in log
    assert "1 loaded from the cache, 0 compiled" in log
    assert _files(pod_cache) == _files(shipped_kernel_cache)  # numba saved no kernel of its own
    assert shipped == normal


def test_a_cache_for_another_cpu_is_not_used_and_the_app_compiles(
    shipped_kernel_cache: Path,
    registry: Registry,
    champion: int,
    redis_url: str,
    tmp_path: Path,
    h2o_cluster: Any,
    trained_mojos: list[TrainedMojo],
) -> None:
    host_cpu = llvmlite.binding.get_host_cpu_name()
    pod_cache = tmp_path / "pod-numba"
    env = {
        **serving_env(registry, redis_url, tmp_path),
        "NUMBA_CACHE_DIR": str(pod_cache),
        "NUMBA_CPU_NAME": host_cpu,  # the operator asks for code tuned to this node's CPU
        "CONVERGE_SERVING_KERNEL_CACHE": str(shipped_kernel_cache),
    }
    predictions, log = _start(env, tmp_path / "serve.log")
    assert f"CPU mismatch: NUMBA_CPU_NAME='{host_cpu}' here, the cache is for 'generic'" in log
    assert "0 loaded from the cache, 1 compiled" in log
    assert not (pod_cache / MANIFEST).exists()  # not copied
    reference = h2o_p1(h2o_cluster, trained_mojos[0], ROWS)
    assert [p["p1"] for p in predictions] == pytest.approx(reference, abs=1e-6)

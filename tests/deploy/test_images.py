"""What the images are built from: their lock files and the H2O node entrypoint (run for real)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from resources.memory_split import split_memory
from shared.net import free_port
from shared.versions import REPOSITORY_ROOT, lock_pins, pinned_versions

DOCKER = REPOSITORY_ROOT / "deploy" / "docker"
MAIN_LOCK = lock_pins(REPOSITORY_ROOT / "requirements.lock")
ENTRYPOINT = DOCKER / "h2o-entrypoint.sh"


@pytest.mark.parametrize("image", ["serving", "training"])
def test_image_lock_is_a_hashed_subset_of_the_main_lock(image: str) -> None:
    lock = DOCKER / f"requirements-{image}.lock"
    pins = lock_pins(lock)
    assert pins, f"{lock} pins nothing"
    assert {name: MAIN_LOCK.get(name) for name in pins} == pins
    # --require-hashes in the Dockerfile fails on a pin without a hash; find it here first.
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text().split("\n", 3)[3])
    assert all("--hash=sha256:" in block for block in blocks if block.strip())


def test_serving_image_has_no_h2o_and_no_dagster() -> None:
    pins = lock_pins(DOCKER / "requirements-serving.lock")
    assert "h2o" not in pins
    assert not [name for name in pins if name.startswith("dagster")]
    assert {"fastapi", "uvicorn", "treelite", "psycopg", "redis"} <= set(pins)
    training = lock_pins(DOCKER / "requirements-training.lock")
    assert training["h2o"] == pinned_versions().h2o_version


def test_serving_image_compiles_the_kernels_it_will_run() -> None:
    """numba keys its cache by the kernels' source: compiled after they are copied, not before."""
    steps = (DOCKER / "serving.Dockerfile").read_text()
    compile_at = steps.index('converge mojo compile-cache --dir "${CONVERGE_SERVING_KERNEL_CACHE}"')
    assert steps.index("COPY shared ./shared") < compile_at
    assert "CONVERGE_SERVING_KERNEL_CACHE=/opt/converge/numba-kernels" in steps
    assert "NUMBA_CACHE_DIR=/tmp/numba" in steps  # writable in the pod: its tmp emptyDir


def _entrypoint_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    # The image puts the venv's console scripts (converge) and python first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def test_entrypoint_refuses_a_bad_memory_limit() -> None:
    completed = subprocess.run(
        ["sh", str(ENTRYPOINT)],
        env=_entrypoint_env(CONVERGE_MEMORY_LIMIT="lots"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert "not a memory size: 'lots'" in completed.stderr


@pytest.mark.h2o
def test_entrypoint_starts_an_h2o_node_with_the_split_heap(tmp_path: Path) -> None:
    """The StatefulSet's command, run for real: the pinned h2o.jar, 70 % of the limit as heap."""
    port = _free_port_pair()
    env = _entrypoint_env(CONVERGE_MEMORY_LIMIT="1g", TMPDIR=str(tmp_path))
    log = (tmp_path / "h2o.log").open("w")
    node = subprocess.Popen(
        [
            "sh",
            str(ENTRYPOINT),
            *("--ip", "127.0.0.1", "--port", str(port), "-ice_root", str(tmp_path)),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        cloud = _wait_for_cloud(f"http://127.0.0.1:{port}/3/Cloud", node, timeout_s=120)
    finally:
        node.terminate()
        node.wait(timeout=30)
        log.close()

    assert cloud["cloud_name"] == "converge"
    assert cloud["version"] == pinned_versions().h2o_version
    assert cloud["cloud_size"] == 1
    heap = split_memory("1g").heap_bytes
    # The JVM reports a little less than -Xmx (one survivor space is not counted).
    assert 0.9 * heap <= cloud["nodes"][0]["max_mem"] <= heap
    assert (tmp_path / "h2o-memory.env").read_text().count(
        f"H2O_JVM_ARGS=-Xmx{split_memory('1g').xmx}"
    ) == 1


def _free_port_pair() -> int:
    """A free port whose successor is free too: an H2O node exits (255) unless it gets both."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as successor:
            try:
                successor.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on loopback")


def _wait_for_cloud(url: str, node: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if node.poll() is not None:
            raise AssertionError(f"the H2O node exited with {node.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                cloud: dict[str, Any] = json.load(response)
                if cloud.get("cloud_healthy") and cloud.get("consensus"):
                    return cloud
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no H2O cloud at {url} after {timeout_s} s")

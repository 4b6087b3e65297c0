"""Cold start of one serving worker to /ready with an empty numba cache: compiling the kernels vs
with the kernel cache shipped in the image.
"""

from __future__ import annotations

from pathlib import Path

import click

from bench.serve_figures import server_cpu_s, verdict
from bench.serving_setup import uvicorn, wait_ready
from shared.kernel_cache import build_cache

TARGET_COLD_S = 2.0
COLD_STARTS = 2  # of each kind: compiling the kernels, and with the shipped kernel cache
KERNEL_CACHE_ENV = "CONVERGE_SERVING_KERNEL_CACHE"


def _cold_start(env: dict[str, str], numba_cache: Path) -> tuple[float, float]:
    """(wall, CPU) seconds from spawning `converge serve` (1 worker) to /ready.

    CPU is user + system of the server's processes: robust to other load on the machine.
    """
    with uvicorn({**env, "NUMBA_CACHE_DIR": str(numba_cache)}, 1) as (base, process):
        wall = wait_ready(base, process)
        return wall, server_cpu_s(process)


def _kernels_compiled(numba_cache: Path, shipped: Path) -> int:
    """Kernels numba compiled and saved into `numba_cache`: code files not copied from `shipped`."""
    compiled = 0
    for path in numba_cache.rglob("*.nbc"):
        twin = shipped / path.relative_to(numba_cache)
        compiled += not twin.is_file() or twin.read_bytes() != path.read_bytes()
    return compiled


def _range_s(figures: list[float]) -> str:
    return f"{min(figures):.2f}-{max(figures):.2f} s"


def cold_starts(root: Path, env: dict[str, str]) -> None:
    """Cold start of 1 worker with an empty NUMBA_CACHE_DIR, compiling vs the shipped kernel cache.

    The two kinds of start alternate, COLD_STARTS of each, so both see the same machine and the
    same warm OS file cache.
    """
    shipped = root / "numba-kernels"
    build_cache(shipped)  # the image build's step, not measured
    compiling = {k: v for k, v in env.items() if k != KERNEL_CACHE_ENV}
    kinds = {"compiling": compiling, "shipped": {**compiling, KERNEL_CACHE_ENV: str(shipped)}}
    wall: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    compiled: dict[str, set[int]] = {kind: set() for kind in kinds}
    for attempt in range(COLD_STARTS):
        for kind, kind_env in kinds.items():
            folder = root / f"numba-{kind}-{attempt}"
            seconds, cpu_s = _cold_start(kind_env, folder)
            wall[kind].append(seconds)
            cpu[kind].append(cpu_s)
            compiled[kind].add(_kernels_compiled(folder, shipped))
    best = min(wall["shipped"])
    click.echo(
        f"cold start to /ready (1 worker, empty NUMBA_CACHE_DIR, {COLD_STARTS} starts each): "
        f"compiling the kernels {_range_s(wall['compiling'])} (CPU {_range_s(cpu['compiling'])}; "
        f"kernels compiled: {sorted(compiled['compiling'])}), with the shipped cache "
        f"{_range_s(wall['shipped'])} (CPU {_range_s(cpu['shipped'])}; kernels compiled: "
        f"{sorted(compiled['shipped'])}); shipped/compiling {best / min(wall['compiling']):.2f} "
        f"(CPU {min(cpu['shipped']) / min(cpu['compiling']):.2f}; goal < {TARGET_COLD_S} s with "
        f"the shipped cache: {verdict(best < TARGET_COLD_S)})"
    )
    click.echo(
        "  (excludes: building the shipped cache, done at image build; pulling the image and "
        "scheduling the pod; Python bytecode is precompiled and the OS file cache warm, as on a "
        "node that ran the image before)"
    )

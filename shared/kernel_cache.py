"""numba kernels compiled ahead of time: a cache folder built once (at image build), used at start.

numba keys a cached kernel by the folder of its source file (the cache sub-folder's name) and the
file's content hash, the Python and numba versions, the argument types, and the CPU (LLVM triple,
CPU name and features). A cache compiled for the build machine's CPU misses on any other CPU model,
so the shipped cache is compiled for LLVM's `generic` CPU (NUMBA_CPU_NAME=generic: the baseline
instruction set of the architecture) and a process using it runs with the same setting. numba reads
a cache only from a folder it can write to (it checks by creating a file), and an image layer may
be read-only: the shipped cache is copied into NUMBA_CACHE_DIR at start.

A manifest written next to the compiled files records what the cache was built for, so a process
that cannot use it says why (missing, stale sources, another CPU, Python or numba) and compiles.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

# Every module holding @njit(cache=True) code; each lists its dispatchers as COMPILED.
KERNEL_MODULES = ("shared.mojo.kernel", "shared.mojo.network_kernel", "shared.mojo.decimal_text")
PORTABLE_CPU = "generic"
MANIFEST = "converge-kernels.json"
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


class KernelCacheError(RuntimeError):
    """The kernel cache could not be built."""


@dataclass(frozen=True)
class CacheKey:
    """What numba's cache index is keyed by, for every kernel module."""

    python: str
    numba: str
    machine: str
    cpu_name: str
    cpu_features: str
    sources: dict[str, str]  # absolute source path -> sha256 of its content


def _source_path(module: str) -> Path:
    # Not importlib.util.find_spec: it imports the parent packages, and so possibly numba.
    return _PROJECT_ROOT.joinpath(*module.split(".")).with_suffix(".py")


def _sources() -> dict[str, str]:
    """Each kernel module's absolute path and content hash, without importing anything."""
    paths = (_source_path(module) for module in KERNEL_MODULES)
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _differences(built: CacheKey, environ: MutableMapping[str, str]) -> Iterator[str]:
    """Why a cache built for `built` would miss in this process, if it does."""
    if built.python != _python():
        yield f"stale: built for Python {built.python}, this is Python {_python()}"
    if built.numba != version("numba"):
        yield f"stale: built with numba {built.numba}, this is numba {version('numba')}"
    if built.machine != platform.machine():
        yield f"CPU mismatch: built for {built.machine}, this machine is {platform.machine()}"
    for variable, built_for in (
        ("NUMBA_CPU_NAME", built.cpu_name),
        ("NUMBA_CPU_FEATURES", built.cpu_features),
    ):
        here = environ.get(variable)
        if here is not None and here != built_for:
            yield f"CPU mismatch: {variable}={here!r} here, the cache is for {built_for!r}"
    sources = _sources()
    if built.sources != sources:
        changed = sorted(set(built.sources.items()) ^ set(sources.items()))
        yield f"stale: the kernel sources differ from the ones compiled ({changed[0][0]})"


def use_shipped_cache(shipped: Path | None, environ: MutableMapping[str, str]) -> str | None:
    """Copy the `shipped` cache into NUMBA_CACHE_DIR and select its CPU in `environ`.

    Call before numba is imported (it reads its settings at import). Returns None when the cache
    is used, else why not (then `environ` is left alone and the kernels compile at first use).
    """
    if shipped is None:
        return "no shipped cache is configured (CONVERGE_SERVING_KERNEL_CACHE)"
    manifest = shipped / MANIFEST
    try:
        built = CacheKey(**json.loads(manifest.read_text()))
    except FileNotFoundError:
        return f"cache missing: {manifest} not found (build it: converge mojo compile-cache)"
    except (OSError, ValueError, TypeError) as error:
        return f"cache unreadable: {manifest}: {error}"
    reasons = list(_differences(built, environ))
    if reasons:
        return "; ".join(reasons)
    target = environ.get("NUMBA_CACHE_DIR")
    if not target:
        return "NUMBA_CACHE_DIR is not set (the shipped cache is copied there)"
    try:
        shutil.copytree(shipped, target, dirs_exist_ok=True)
    except OSError as error:
        return f"cannot copy the shipped cache into NUMBA_CACHE_DIR={target}: {error}"
    environ["NUMBA_CPU_NAME"] = built.cpu_name
    environ["NUMBA_CPU_FEATURES"] = built.cpu_features
    return None


def build_cache(directory: Path) -> CacheKey:
    """Compile every kernel into the empty or absent `directory`, for the generic CPU.

    In a child process: numba reads NUMBA_CACHE_DIR and NUMBA_CPU_NAME once, at import.
    """
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise KernelCacheError(f"{directory} is not empty: compile into an empty or new folder")
    directory.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(directory),
        "NUMBA_CPU_NAME": PORTABLE_CPU,
        "NUMBA_CPU_FEATURES": "",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.getenv("PYTHONPATH")])),
    }
    code = "from shared.kernel_cache import compile_here; compile_here()"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise KernelCacheError(f"compiling the kernels failed:\n{done.stderr}")
    return CacheKey(**json.loads((directory / MANIFEST).read_text()))


def compile_here() -> None:
    """Compile (and so cache) every kernel signature serving uses, then write the manifest."""
    cache_dir = Path(os.environ["NUMBA_CACHE_DIR"])
    warm_kernels()
    dispatchers = list(_dispatchers())
    for dispatcher in dispatchers:
        stats = dispatcher.stats
        if not stats.cache_misses or not Path(stats.cache_path).is_relative_to(cache_dir):
            raise KernelCacheError(f"{dispatcher} was not compiled into {cache_dir}")
    _triple, cpu_name, cpu_features = dispatchers[0].targetctx.codegen().magic_tuple()
    key = CacheKey(
        python=_python(),
        numba=version("numba"),
        machine=platform.machine(),
        cpu_name=cpu_name,
        cpu_features=cpu_features,
        sources=_sources(),
    )
    (cache_dir / MANIFEST).write_text(json.dumps(asdict(key), indent=2) + "\n")


def warm_kernels() -> None:
    """Call every kernel with the argument types scoring passes (C-contiguous, writable arrays)."""
    import pyarrow as pa

    from shared.mojo.decimal_text import parse_plain_decimals
    from shared.mojo.forest import ForestBuilder
    from shared.mojo.kernel import score_forest, score_hyperplanes
    from shared.mojo.network_kernel import weighted_sums

    builder = ForestBuilder()
    builder.add_tree(builder.add_leaf(1.0), 0)
    score_forest(builder.build([-1]), np.zeros((1, 1)), np.zeros((1, 1)), float32_sum=False)
    nodes = np.zeros((1, 1))
    index = np.zeros(1, dtype=np.int32)
    leaf = np.ones(1, dtype=np.bool_)
    score_hyperplanes(np.zeros((1, 1)), nodes, nodes, (index, index), leaf, np.ones(1), index)
    weighted_sums(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(1), stripes=8, rectify=True)
    for text_type in (pa.string(), pa.large_string()):  # 32- and 64-bit offsets
        parse_plain_decimals(pa.array(["1.5"], type=text_type))


def _dispatchers() -> Iterator[Any]:
    for module in KERNEL_MODULES:
        yield from importlib.import_module(module).COMPILED


def compiled_kernels() -> tuple[int, int]:
    """(kernel signatures loaded from numba's cache, compiled) so far in this process."""
    loaded = compiled = 0
    for dispatcher in _dispatchers():
        hits = len(dispatcher.stats.cache_hits)
        loaded += hits
        compiled += len(dispatcher.overloads) - hits
    return loaded, compiled

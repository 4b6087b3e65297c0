"""How a memory limit is split between the H2O JVM heap and native/Python headroom (BA-PHY-01).

XGBoost (and the Python process that drives H2O) allocate outside the Java heap, so a JVM given the
whole container limit gets OOM-killed: the heap takes a fraction of the limit and the rest is left
as headroom. The same arithmetic gives the training concurrency: floor(node memory / task memory).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HEAP_FRACTION = 0.7
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:ib|i|b)?\s*$", re.IGNORECASE)
# cgroup v1 reports "no limit" as a huge page-aligned number rather than "max".
_UNLIMITED_THRESHOLD = 1 << 60


@dataclass(frozen=True)
class MemorySplit:
    """A memory limit split into a JVM heap and the headroom left for native and Python memory."""

    limit_bytes: int
    heap_bytes: int
    source: str

    @property
    def headroom_bytes(self) -> int:
        """Memory outside the Java heap (XGBoost native buffers, Python client, JVM overhead)."""
        return self.limit_bytes - self.heap_bytes

    @property
    def xmx(self) -> str:
        """The heap as a JVM size (`11g`, `700m`), rounded down to a whole unit."""
        return format_jvm_size(self.heap_bytes)

    def env_lines(self) -> list[str]:
        """The split as `KEY=value` lines for an env file read by the training image."""
        return [
            f"CONVERGE_MEMORY_LIMIT_BYTES={self.limit_bytes}",
            f"H2O_JVM_HEAP={self.xmx}",
            f"H2O_JVM_ARGS=-Xmx{self.xmx}",
            f"CONVERGE_NATIVE_HEADROOM_BYTES={self.headroom_bytes}",
        ]


def parse_size(text: str) -> int:
    """Bytes in a size such as `16g`, `512Mi`, `1.5GB` or `1073741824` (binary units)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a memory size: {text!r} (expected e.g. 16g, 512m, 1073741824)")
    number, unit = match.groups()
    size = int(float(number) * _UNITS[unit.lower()])
    if size <= 0:
        raise ValueError(f"memory size must be positive: {text!r}")
    return size


def format_jvm_size(size_bytes: int) -> str:
    """`size_bytes` rounded down to what `-Xmx` accepts: whole `g` unless that gives up over 5 %."""
    whole_gigabytes = size_bytes // _UNITS["g"]
    if whole_gigabytes and whole_gigabytes * _UNITS["g"] >= 0.95 * size_bytes:
        return f"{whole_gigabytes}g"
    if size_bytes >= _UNITS["m"]:
        return f"{size_bytes // _UNITS['m']}m"
    raise ValueError(f"a JVM heap needs at least 1 MiB, got {size_bytes} bytes")


def cgroup_memory_limit(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The container's memory limit from cgroup v2 or v1, or None when there is no limit."""
    for candidate in (cgroup_root / "memory.max", cgroup_root / "memory/memory.limit_in_bytes"):
        if not candidate.is_file():
            continue
        raw = candidate.read_text().strip()
        if raw == "max":
            return None
        limit = int(raw)
        return None if limit >= _UNLIMITED_THRESHOLD else limit
    return None


def physical_memory() -> int:
    """The machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def split_memory(
    limit: str | int | None = None,
    heap_fraction: float = DEFAULT_HEAP_FRACTION,
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> MemorySplit:
    """Split `limit` (or the cgroup limit, or physical memory) into heap and headroom."""
    if not 0 < heap_fraction < 1:
        raise ValueError(f"heap fraction must be between 0 and 1 (exclusive), got {heap_fraction}")
    if limit is not None:
        limit_bytes = parse_size(limit) if isinstance(limit, str) else limit
        source = "given limit"
    elif (cgroup_limit := cgroup_memory_limit(cgroup_root)) is not None:
        limit_bytes, source = cgroup_limit, "cgroup limit"
    else:
        limit_bytes, source = physical_memory(), "physical memory (no cgroup limit)"
    heap = parse_size(format_jvm_size(int(limit_bytes * heap_fraction)))
    return MemorySplit(limit_bytes=limit_bytes, heap_bytes=heap, source=source)


def training_concurrency(node_memory: str | int, task_memory: str | int) -> int:
    """How many trainings fit on a node: floor(node memory / task memory)."""
    node = parse_size(node_memory) if isinstance(node_memory, str) else node_memory
    task = parse_size(task_memory) if isinstance(task_memory, str) else task_memory
    if task > node:
        raise ValueError(
            f"one training needs {task} bytes but the node has only {node}: no training fits"
        )
    return math.floor(node / task)

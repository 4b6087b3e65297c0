"""A forest as flat node arrays: the one in-memory tree layout that every tree algorithm scores.

H2O's compressed trees (GBM/DRF) and XGBoost's booster are both decoded into a `Forest`. A split
sends a row right when `x >= split` (or when its category is in the node's bitset), a missing value
goes the node's NA direction; `shared.mojo.kernel` walks it without the GIL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

LEAF = -1


@dataclass
class ForestBuilder:
    """Accumulates nodes of several trees; `build()` freezes them into a `Forest`."""

    col: list[int] = field(default_factory=list)
    equal: list[int] = field(default_factory=list)
    na_vs_rest: list[bool] = field(default_factory=list)
    leftward: list[bool] = field(default_factory=list)
    split: list[float] = field(default_factory=list)
    bits_start: list[int] = field(default_factory=list)
    bits_offset: list[int] = field(default_factory=list)
    bits_count: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    bits: bytearray = field(default_factory=bytearray)
    roots: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def add_leaf(self, value: float) -> int:
        """Append a leaf; returns its node index."""
        return self._append(LEAF, 0, False, False, float("nan"), -1, 0, 0, value)

    def add_split(
        self,
        col: int,
        *,
        equal: int,
        na_vs_rest: bool,
        leftward: bool,
        split: float,
        bitset: tuple[bytes, int, int] | None,
    ) -> int:
        """Append a split whose children are set later with `set_children`; returns its index."""
        start, offset, count = -1, 0, 0
        if bitset is not None:
            data, offset, count = bitset
            start = len(self.bits)
            self.bits.extend(data)
        return self._append(col, equal, na_vs_rest, leftward, split, start, offset, count, 0.0)

    def set_children(self, node: int, left: int, right: int) -> None:
        """Link a split node to its two children."""
        self.left[node] = left
        self.right[node] = right

    def add_tree(self, root: int, output: int) -> None:
        """Register `root` as a tree whose leaf values are added to output column `output`."""
        self.roots.append(root)
        self.outputs.append(output)

    def build(self, domain_sizes: list[int]) -> Forest:
        """Freeze into contiguous arrays; `domain_sizes[c]` is -1 for a numeric column."""
        return Forest(
            col=np.asarray(self.col, dtype=np.int32),
            equal=np.asarray(self.equal, dtype=np.int8),
            na_vs_rest=np.asarray(self.na_vs_rest, dtype=np.bool_),
            leftward=np.asarray(self.leftward, dtype=np.bool_),
            split=np.asarray(self.split, dtype=np.float64),
            bits_start=np.asarray(self.bits_start, dtype=np.int64),
            bits_offset=np.asarray(self.bits_offset, dtype=np.int64),
            bits_count=np.asarray(self.bits_count, dtype=np.int64),
            left=np.asarray(self.left, dtype=np.int32),
            right=np.asarray(self.right, dtype=np.int32),
            value=np.asarray(self.value, dtype=np.float64),
            bits=np.frombuffer(bytes(self.bits) or b"\0", dtype=np.uint8).copy(),
            roots=np.asarray(self.roots, dtype=np.int32),
            outputs=np.asarray(self.outputs, dtype=np.int32),
            domain_sizes=np.asarray(domain_sizes, dtype=np.int64),
        )

    def _append(
        self,
        col: int,
        equal: int,
        na_vs_rest: bool,
        leftward: bool,
        split: float,
        start: int,
        offset: int,
        count: int,
        value: float,
    ) -> int:
        self.col.append(col)
        self.equal.append(equal)
        self.na_vs_rest.append(na_vs_rest)
        self.leftward.append(leftward)
        self.split.append(split)
        self.bits_start.append(start)
        self.bits_offset.append(offset)
        self.bits_count.append(count)
        self.left.append(LEAF)
        self.right.append(LEAF)
        self.value.append(value)
        return len(self.col) - 1


@dataclass(frozen=True)
class Forest:
    """Immutable node arrays (read-only after load, so safe to score from many threads)."""

    col: npt.NDArray[np.int32]
    equal: npt.NDArray[np.int8]
    na_vs_rest: npt.NDArray[np.bool_]
    leftward: npt.NDArray[np.bool_]
    split: npt.NDArray[np.float64]
    bits_start: npt.NDArray[np.int64]
    bits_offset: npt.NDArray[np.int64]
    bits_count: npt.NDArray[np.int64]
    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    value: npt.NDArray[np.float64]
    bits: npt.NDArray[np.uint8]
    roots: npt.NDArray[np.int32]
    outputs: npt.NDArray[np.int32]
    domain_sizes: npt.NDArray[np.int64]

"""A forest as flat node arrays: the one in-memory tree layout that every tree algorithm scores.

H2O's compressed trees (GBM/DRF) and XGBoost's booster are both decoded through a `ForestBuilder`,
which lays the nodes out for `shared.mojo.kernel`'s walk: tree by tree in breadth-first order, the
two children of a split side by side (the walk adds 0 or 1 to the first child's index), and a leaf
pointing at itself, so every row takes the same number of steps through a tree (its depth) and no
step branches on the row's value. Each split's rule is a `split_rule.decision_table`; identical
tables are stored once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from shared.mojo.split_rule import EXTRA_ENTRIES, PAST_LEVELS, Bitset, SplitRule, decision_table

# Fields of a node in `Forest.nodes`: the column it reads, its first child, where its decision
# table's entries after the levels start (so its level entries start `LEVELS` before), and the
# number of level entries.
NODE_FIELDS, COLUMN, FIRST_CHILD, PAST, LEVELS = 4, 0, 1, 2, 3
# A leaf's table: every entry keeps the row where it is.
_STAY = bytes(EXTRA_ENTRIES)


@dataclass
class ForestBuilder:
    """Accumulates the nodes of several trees; `build()` lays them out into a `Forest`."""

    columns: list[int] = field(default_factory=list)
    rules: list[SplitRule | None] = field(default_factory=list)  # None: a leaf
    splits: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    children: list[tuple[int, int]] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def add_leaf(self, value: float) -> int:
        """Append a leaf; returns its node index."""
        return self._append(0, None, float("nan"), value)

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
        rule = SplitRule(equal, na_vs_rest, leftward, None if bitset is None else Bitset(*bitset))
        return self._append(col, rule, split, 0.0)

    def set_children(self, node: int, left: int, right: int) -> None:
        """Link a split node to its two children."""
        self.children[node] = (left, right)

    def add_tree(self, root: int, output: int) -> None:
        """Register `root` as a tree whose leaf values are added to output column `output`."""
        self.roots.append(root)
        self.outputs.append(output)

    def build(self, domain_sizes: list[int]) -> Forest:
        """Lay out every tree; `domain_sizes[c]` is -1 for a numeric column."""
        layout = _Layout(self, domain_sizes)
        roots, depths = [], []
        for root in self.roots:
            new_root, depth = layout.add_tree(root)
            roots.append(new_root)
            depths.append(depth)
        return Forest(
            nodes=np.asarray(layout.nodes, dtype=np.uint32),
            splits=np.asarray(layout.splits, dtype=np.float64),
            tables=np.frombuffer(bytes(layout.tables), dtype=np.uint8).copy(),
            values=np.asarray(layout.values, dtype=np.float64),
            roots=np.asarray(roots, dtype=np.uint32),
            depths=np.asarray(depths, dtype=np.int32),
            outputs=np.asarray(self.outputs, dtype=np.int32),
        )

    def _append(self, col: int, rule: SplitRule | None, split: float, value: float) -> int:
        self.columns.append(col)
        self.rules.append(rule)
        self.splits.append(split)
        self.values.append(value)
        self.children.append((-1, -1))
        return len(self.columns) - 1


class _Layout:
    """The node rows of `Forest`, filled tree by tree."""

    def __init__(self, builder: ForestBuilder, domain_sizes: list[int]) -> None:
        self._builder = builder
        self._domain_sizes = domain_sizes
        self.nodes: list[int] = []
        self.splits: list[float] = []
        self.values: list[float] = []
        self.tables = bytearray()
        self._table_starts: dict[bytes, int] = {}

    def add_tree(self, root: int) -> tuple[int, int]:
        """Lay out the tree under builder node `root`; returns its new root and its depth."""
        b = self._builder
        new_root = self._allocate(1)
        depth = 0
        pending: deque[tuple[int, int, Bitset | None, int]] = deque([(root, new_root, None, 0)])
        while pending:
            old, new, stale, level = pending.popleft()
            rule = b.rules[old]
            if rule is None:
                self._set(new, 0, new, _STAY, float("nan"), b.values[old])
                depth = max(depth, level)
                continue
            column = b.columns[old]
            table = decision_table(rule, stale, self._domain_sizes[column])
            first = self._allocate(2)
            self._set(new, column, first, table, b.splits[old], 0.0)
            held = rule.last_bitset(stale)
            left, right = b.children[old]
            pending.append((left, first, held, level + 1))
            pending.append((right, first + 1, held, level + 1))
        return new_root, depth

    def _allocate(self, count: int) -> int:
        first = len(self.values)
        self.nodes.extend([0] * NODE_FIELDS * count)
        self.splits.extend([0.0] * count)
        self.values.extend([0.0] * count)
        return first

    def _set(
        self, node: int, column: int, first: int, table: bytes, split: float, value: float
    ) -> None:
        levels = len(table) - EXTRA_ENTRIES
        start = self._table(table)
        fields = (column, first, start + levels + PAST_LEVELS, levels)
        self.nodes[NODE_FIELDS * node : NODE_FIELDS * (node + 1)] = fields
        self.splits[node] = split
        self.values[node] = value

    def _table(self, table: bytes) -> int:
        start = self._table_starts.get(table)
        if start is None:
            start = self._table_starts[table] = len(self.tables)
            self.tables.extend(table)
        return start


@dataclass(frozen=True)
class Forest:
    """Immutable node arrays (read-only after load, so safe to score from many threads)."""

    nodes: npt.NDArray[np.uint32]  # NODE_FIELDS per node
    splits: npt.NDArray[np.float64]  # a split's threshold (unused by bitset splits)
    tables: npt.NDArray[np.uint8]  # decision tables, `split_rule.decision_table`'s entries
    values: npt.NDArray[np.float64]  # a leaf's value (0 on splits)
    roots: npt.NDArray[np.uint32]
    depths: npt.NDArray[np.int32]  # steps from a tree's root to its deepest leaf
    outputs: npt.NDArray[np.int32]  # the output column each tree's leaf values are added to

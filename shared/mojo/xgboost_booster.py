"""Reading XGBoost's legacy binary model (`boosterBytes` in an H2O XGBoost MOJO) into a `Forest`.

The layout is xgboost 1.x's `SaveModel` binary format, the one the Java predictor bundled in
h2o-genmodel reads: an optional `binf` magic, LearnerModelParam (136 bytes), the objective and
booster names, GBTreeModelParam (160 bytes), then per tree TreeParam (148 bytes), its nodes
(20 bytes each) and node statistics (16 bytes each), and finally the class group of every tree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.forest import Forest, ForestBuilder

_LEARNER_PARAM_SIZE = 136
_GBTREE_PARAM_SIZE = 160
_TREE_PARAM_SIZE = 148
_NODE_SIZE = 20
_NODE_STAT_SIZE = 16


@dataclass(frozen=True)
class Booster:
    """The parts of an XGBoost booster that scoring needs."""

    base_score: float
    objective: str
    n_groups: int
    major_version: int
    minor_version: int
    forest: Forest


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.position)
        self.position += struct.calcsize("<" + fmt)
        return values

    def skip(self, size: int) -> None:
        self.position += size

    def string(self) -> str:
        (length,) = self.unpack("Q")
        text = self.data[self.position : self.position + length].decode("utf-8")
        self.position += length
        return text


def read_booster(data: bytes, n_features: int) -> Booster:
    """Parse the legacy binary booster; `n_features` is the width of H2O's one-hot input."""
    reader = _Reader(data)
    if data[:4] == b"binf":
        reader.skip(4)
    start = reader.position
    base_score, _, n_class, _, _, major, minor = reader.unpack("fIiiiII")
    reader.position = start + _LEARNER_PARAM_SIZE
    objective = reader.string()
    booster_name = reader.string()
    if booster_name != "gbtree":
        raise UnsupportedMojoError(f"XGBoost booster '{booster_name}' (supported: gbtree)")
    start = reader.position
    n_trees, _, _, _, _, _, leaf_vector = reader.unpack("iiiiqii")
    reader.position = start + _GBTREE_PARAM_SIZE
    if leaf_vector != 0:
        raise UnsupportedMojoError("XGBoost trees with leaf vectors")
    builder = ForestBuilder()
    roots = [_read_tree(reader, builder) for _ in range(int(n_trees))]
    groups = reader.unpack(f"{n_trees}i")
    for root, group in zip(roots, groups, strict=True):
        builder.add_tree(root, int(group))
    return Booster(
        base_score=float(base_score),
        objective=objective,
        n_groups=max(1, int(n_class)),  # the tree param's own group count is deprecated (0)
        major_version=int(major),
        minor_version=int(minor),
        forest=builder.build([-1] * n_features),
    )


def _read_tree(reader: _Reader, builder: ForestBuilder) -> int:
    start = reader.position
    _, n_nodes, _, _, _, leaf_vector = reader.unpack("iiiiii")
    if leaf_vector != 0:
        raise UnsupportedMojoError("XGBoost trees with leaf vectors")
    reader.position = start + _TREE_PARAM_SIZE
    nodes = [reader.unpack("iiiIf") for _ in range(int(n_nodes))]
    reader.skip(_NODE_STAT_SIZE * int(n_nodes))
    indices: list[int] = []
    for _, left, _, split_index, info in nodes:
        if left == -1:
            indices.append(builder.add_leaf(float(info)))
        else:
            indices.append(
                builder.add_split(
                    split_index & 0x7FFFFFFF,
                    equal=0,
                    na_vs_rest=False,
                    leftward=bool(split_index >> 31),
                    split=float(info),
                    bitset=None,
                )
            )
    for index, (_, left, right, _, _) in zip(indices, nodes, strict=True):
        if left != -1:
            builder.set_children(index, indices[left], indices[right])
    return indices[0]

"""Reading XGBoost's legacy binary model (`boosterBytes` in an H2O XGBoost MOJO).

The layout is xgboost 1.x's `SaveModel` binary format, the one the Java predictor bundled with
genmodel (xgboost-predictor 0.3.20) reads: an optional `binf` magic, LearnerModelParam (136 bytes),
the objective and booster names, then the booster. gbtree and dart: GBTreeModelParam (160 bytes),
per tree TreeParam (148 bytes), its nodes (20 bytes each) and node statistics (16 bytes each), the
class group of every tree and, for dart only, the trees' `weight_drop`. gblinear: its model param
(136 bytes) and the float32 weights, feature-major with one column per class group, biases last.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.forest import Forest, ForestBuilder

BOOSTERS = ("gbtree", "dart", "gblinear")
_LEARNER_PARAM_SIZE = 136
_GBTREE_PARAM_SIZE = 160
_GBLINEAR_PARAM_SIZE = 136
_TREE_PARAM_SIZE = 148
_NODE_SIZE = 20
_NODE_STAT_SIZE = 16

# One tree node as stored: parent, left, right, split index (bit 31: default left), split or leaf.
_Node = tuple[int, int, int, int, float]


@dataclass(frozen=True)
class Booster:
    """The parts of an XGBoost booster that scoring needs: trees or linear weights."""

    name: str
    base_score: float
    objective: str
    n_groups: int
    major_version: int
    minor_version: int
    forest: Forest | None
    # gblinear: float32 (n_features + 1, n_groups), the last row the biases
    linear: npt.NDArray[np.float32] | None


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

    def floats(self, count: int) -> npt.NDArray[np.float32]:
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.position)
        self.position += 4 * count
        return values.astype(np.float32)


def read_booster(data: bytes, n_features: int) -> Booster:
    """Parse the legacy binary booster; `n_features` is the width of H2O's one-hot input."""
    reader = _Reader(data)
    if data[:4] == b"binf":
        reader.skip(4)
    start = reader.position
    base_score, num_feature, n_class, with_pbuffer, _, major, minor = reader.unpack("fIiiiII")
    reader.position = start + _LEARNER_PARAM_SIZE
    objective = reader.string()
    name = reader.string()
    if name not in BOOSTERS:
        raise UnsupportedMojoError(f"XGBoost booster '{name}' (supported: {', '.join(BOOSTERS)})")
    n_groups = max(1, int(n_class))  # the tree param's own group count is deprecated (0)
    forest, linear = None, None
    if name == "gblinear":
        linear = _read_linear(reader, int(num_feature), n_features, n_groups)
    else:
        forest = _read_trees(reader, name, bool(with_pbuffer), n_features)
    return Booster(
        name=name,
        base_score=float(base_score),
        objective=objective,
        n_groups=n_groups,
        major_version=int(major),
        minor_version=int(minor),
        forest=forest,
        linear=linear,
    )


def _read_linear(
    reader: _Reader, num_feature: int, n_features: int, n_groups: int
) -> npt.NDArray[np.float32]:
    if num_feature != n_features:
        raise UnsupportedMojoError(
            f"XGBoost gblinear over {num_feature} features, H2O's input has {n_features}"
        )
    reader.skip(_GBLINEAR_PARAM_SIZE)
    (length,) = reader.unpack("Q")
    expected = (num_feature + 1) * n_groups
    if length not in (0, expected):
        raise UnsupportedMojoError(f"XGBoost gblinear with {length} weights (expected {expected})")
    # An empty weight vector is an untrained model: the Java predictor scores it as all zeros.
    weights = reader.floats(expected) if length else np.zeros(expected, dtype=np.float32)
    return weights.reshape(num_feature + 1, n_groups)


def _read_trees(reader: _Reader, name: str, with_pbuffer: bool, n_features: int) -> Forest:
    start = reader.position
    n_trees, _, _, _, n_pbuffer, _, leaf_vector = reader.unpack("iiiiqii")
    reader.position = start + _GBTREE_PARAM_SIZE
    if leaf_vector != 0:
        raise UnsupportedMojoError("XGBoost trees with leaf vectors")
    trees = [_read_tree(reader) for _ in range(int(n_trees))]
    groups = [int(group) for group in reader.unpack(f"{n_trees}i")]
    scales: list[np.float32 | None] = [None] * len(trees)
    if name == "dart":
        if n_pbuffer != 0 and with_pbuffer:
            raise UnsupportedMojoError("XGBoost dart booster saved with a prediction buffer")
        if n_trees:
            (size,) = reader.unpack("Q")
            weight_drop = reader.floats(int(size))
            # The Java predictor weighs the i-th tree *of each class group* by weight_drop[i]
            # (an index into all trees), so multinomial DART uses the first trees' weights.
            seen: dict[int, int] = {}
            for position, group in enumerate(groups):
                scales[position] = weight_drop[seen.get(group, 0)]
                seen[group] = seen.get(group, 0) + 1
    builder = ForestBuilder()
    for nodes, group, scale in zip(trees, groups, scales, strict=True):
        builder.add_tree(_add_tree(builder, nodes, scale), group)
    return builder.build([-1] * n_features)


def _read_tree(reader: _Reader) -> list[_Node]:
    start = reader.position
    _, n_nodes, _, _, _, leaf_vector = reader.unpack("iiiiii")
    if leaf_vector != 0:
        raise UnsupportedMojoError("XGBoost trees with leaf vectors")
    reader.position = start + _TREE_PARAM_SIZE
    nodes: list[_Node] = [reader.unpack("iiiIf") for _ in range(int(n_nodes))]
    reader.skip(_NODE_STAT_SIZE * int(n_nodes))
    return nodes


def _add_tree(builder: ForestBuilder, nodes: list[_Node], scale: np.float32 | None) -> int:
    indices: list[int] = []
    for _, left, _, split_index, info in nodes:
        if left == -1:
            # dart adds weight * leaf, a float32 product: the same for every row, so done here.
            value = info if scale is None else float(scale * np.float32(info))
            indices.append(builder.add_leaf(float(value)))
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

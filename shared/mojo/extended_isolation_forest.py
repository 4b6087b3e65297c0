"""Extended Isolation Forest: random-hyperplane trees (`trees/tNN.bin`) walked with numpy.

A tree blob is an int (the width of the hyperplane arrays), then nodes in increasing heap order
(children of node i are 2i+1 and 2i+2): an int node number, a type byte ('N' or 'L'), and for a
split the normal vector n then the intercept point p (doubles), for a leaf its row count (int).
H2O's AutoBuffer pads the blob with zero bytes after the last node.
A row goes left when sum((x - p) * n) <= 0, so a missing value (NaN) always goes right.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray, check_common

EIF_MOJO_VERSIONS = ("1.00",)
_NODE = ord("N")
_LEAF = ord("L")
# hex.genmodel.utils.MathUtils.EULER_MASCHERONI_CONSTANT, truncated as genmodel has it.
_EULER = 0.5772156649


def average_path_length(n: int) -> float:
    """Average path length of an unsuccessful BST search over n rows (genmodel's estimate)."""
    if n < 2:
        return 0.0
    if n == 2:
        return 1.0
    return 2 * (math.log(n - 1) + _EULER) - (2.0 * (n - 1.0)) / n


@dataclass(frozen=True)
class HyperplaneTree:
    """One tree as arrays over its nodes; a leaf's `value` is its depth plus the search estimate."""

    normal: FloatArray
    point: FloatArray
    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    is_leaf: npt.NDArray[np.bool_]
    value: FloatArray


def decode_tree(blob: bytes, n_features: int) -> HyperplaneTree:
    """Parse one `trees/tNN.bin` blob (little-endian, as genmodel reads it on x86)."""
    width = struct.unpack_from("<i", blob, 0)[0]
    if width != n_features:
        raise UnsupportedMojoError(f"EIF tree over {width} values for {n_features} columns")
    position = 4
    numbers: list[int] = []
    splits: list[tuple[float, ...]] = []
    leaves: list[int | None] = []
    while position < len(blob):
        if not any(blob[position:]):  # the padding after the last node
            break
        number, kind = struct.unpack_from("<iB", blob, position)
        position += 5
        if numbers and number <= numbers[-1]:
            raise UnsupportedMojoError("EIF tree nodes out of heap order")
        numbers.append(number)
        if kind == _NODE:
            splits.append(struct.unpack_from(f"<{2 * width}d", blob, position))
            leaves.append(None)
            position += 16 * width
        elif kind == _LEAF:
            splits.append((math.nan,) * (2 * width))
            leaves.append(struct.unpack_from("<i", blob, position)[0])
            position += 4
        else:
            raise UnsupportedMojoError(f"EIF tree node type {kind}")
    if not numbers or numbers[0] != 0:
        raise UnsupportedMojoError("EIF tree without a root node")
    return _arrays(numbers, splits, leaves, width)


def _arrays(
    numbers: list[int], splits: list[tuple[float, ...]], leaves: list[int | None], width: int
) -> HyperplaneTree:
    index = {number: position for position, number in enumerate(numbers)}
    children = [
        (2 * number + 1, 2 * number + 2)
        for number, rows in zip(numbers, leaves, strict=True)
        if rows is None
    ]
    if any(left not in index or right not in index for left, right in children):
        # genmodel would scan on into the padding and fail on that row.
        raise UnsupportedMojoError("EIF tree with a split node missing a child")
    left = [index.get(2 * number + 1, 0) for number in numbers]  # 0 only under a leaf: unused
    right = [index.get(2 * number + 2, 0) for number in numbers]
    values = [
        math.nan if rows is None else (number + 1).bit_length() - 1 + average_path_length(rows)
        for number, rows in zip(numbers, leaves, strict=True)
    ]
    planes = np.asarray(splits, dtype=np.float64).reshape(len(numbers), 2 * width)
    return HyperplaneTree(
        normal=planes[:, :width].copy(),
        point=planes[:, width:].copy(),
        left=np.asarray(left, dtype=np.int64),
        right=np.asarray(right, dtype=np.int64),
        is_leaf=np.asarray([rows is not None for rows in leaves]),
        value=np.asarray(values, dtype=np.float64),
    )


def path_lengths(tree: HyperplaneTree, rows: FloatArray) -> FloatArray:
    """The path length of every row through one tree (all rows advance one level per step)."""
    node = np.zeros(len(rows), dtype=np.int64)
    active = np.flatnonzero(~tree.is_leaf[node])
    while active.size:
        at = node[active]
        normal, point = tree.normal[at], tree.point[at]
        product = np.zeros(active.size)
        for column in range(rows.shape[1]):  # genmodel's summation order, column by column
            product += (rows[active, column] - point[:, column]) * normal[:, column]
        node[active] = np.where(product <= 0, tree.left[at], tree.right[at])
        active = active[~tree.is_leaf[node[active]]]
    lengths: FloatArray = tree.value[node]
    return lengths


class ExtendedIsolationForestScorer:
    """hex.genmodel.algos.isoforextended.ExtendedIsolationForestMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, EIF_MOJO_VERSIONS, categories=("AnomalyDetection",))
        self.output_names = ["anomaly_score", "mean_length"]
        n_trees = info.integer("ntrees")
        if n_trees < 1:
            raise UnsupportedMojoError("extended isolation forest without trees")
        self._trees = [
            decode_tree(archive.read(f"trees/t{tree:02d}.bin"), info.n_features)
            for tree in range(n_trees)
        ]
        self._normaliser = average_path_length(info.integer("sample_size"))

    def score(self, rows: FloatArray) -> FloatArray:
        """ExtendedIsolationForestMojoModel.score0: anomaly score, mean path length."""
        total = np.zeros(len(rows))
        for tree in self._trees:
            total += path_lengths(tree, rows)
        mean_length = total / len(self._trees)
        score = np.power(2.0, -(mean_length / self._normaliser))
        return np.column_stack([score, mean_length])

"""Extended Isolation Forest: random-hyperplane trees (`trees/tNN.bin`), walked by the kernel.

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
from shared.mojo.kernel import score_hyperplanes
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
class HyperplaneForest:
    """All trees as arrays over their nodes; a leaf's `value` is its depth plus the estimate."""

    normal: FloatArray
    point: FloatArray
    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    is_leaf: npt.NDArray[np.bool_]
    value: FloatArray
    roots: npt.NDArray[np.int32]

    def path_lengths(self, rows: FloatArray) -> FloatArray:
        """Per row, the path lengths summed over all trees."""
        children = (self.left, self.right)
        return score_hyperplanes(
            rows, self.normal, self.point, children, self.is_leaf, self.value, self.roots
        )


@dataclass
class _Tree:
    """One decoded tree: its nodes in heap order."""

    numbers: list[int]
    planes: list[tuple[float, ...]]
    leaf_rows: list[int | None]


def decode_tree(blob: bytes, n_features: int) -> _Tree:
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
    _check_children(numbers, leaves)
    return _Tree(numbers, splits, leaves)


def _check_children(numbers: list[int], leaves: list[int | None]) -> None:
    present = set(numbers)
    for number, rows in zip(numbers, leaves, strict=True):
        if rows is None and not {2 * number + 1, 2 * number + 2} <= present:
            # genmodel would scan on into the padding and fail on that row.
            raise UnsupportedMojoError("EIF tree with a split node missing a child")


def build_forest(trees: list[_Tree], width: int) -> HyperplaneForest:
    """Concatenate decoded trees into one flat `HyperplaneForest` (children as global indices)."""
    left: list[int] = []
    right: list[int] = []
    values: list[float] = []
    roots: list[int] = []
    for tree in trees:
        base = len(values)
        roots.append(base)
        index = {number: base + position for position, number in enumerate(tree.numbers)}
        for number, rows in zip(tree.numbers, tree.leaf_rows, strict=True):
            left.append(index.get(2 * number + 1, -1))  # -1 only under a leaf: never followed
            right.append(index.get(2 * number + 2, -1))
            depth = (number + 1).bit_length() - 1
            values.append(math.nan if rows is None else depth + average_path_length(rows))
    planes = np.asarray([plane for tree in trees for plane in tree.planes], dtype=np.float64)
    planes = planes.reshape(len(values), 2 * width)
    return HyperplaneForest(
        normal=np.ascontiguousarray(planes[:, :width]),
        point=np.ascontiguousarray(planes[:, width:]),
        left=np.asarray(left, dtype=np.int32),
        right=np.asarray(right, dtype=np.int32),
        is_leaf=np.asarray([rows is not None for t in trees for rows in t.leaf_rows]),
        value=np.asarray(values, dtype=np.float64),
        roots=np.asarray(roots, dtype=np.int32),
    )


class ExtendedIsolationForestScorer:
    """hex.genmodel.algos.isoforextended.ExtendedIsolationForestMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, EIF_MOJO_VERSIONS, categories=("AnomalyDetection",))
        self.output_names = ["anomaly_score", "mean_length"]
        n_trees = info.integer("ntrees")
        if n_trees < 1:
            raise UnsupportedMojoError("extended isolation forest without trees")
        trees = [
            decode_tree(archive.read(f"trees/t{tree:02d}.bin"), info.n_features)
            for tree in range(n_trees)
        ]
        self._n_trees = n_trees
        self._forest = build_forest(trees, info.n_features)
        self._normaliser = average_path_length(info.integer("sample_size"))

    def score(self, rows: FloatArray) -> FloatArray:
        """ExtendedIsolationForestMojoModel.score0: anomaly score, mean path length."""
        mean_length = self._forest.path_lengths(rows) / self._n_trees
        score = np.power(2.0, -(mean_length / self._normaliser))
        return np.column_stack([score, mean_length])

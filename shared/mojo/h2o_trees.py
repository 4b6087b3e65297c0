"""Decoding H2O's compressed trees (`trees/tCC_NNN.bin`, mojo_version 1.40) into a `Forest`.

The byte layout is the one h2o-genmodel's `SharedTreeMojoModel.scoreTree` walks: per node a type
byte, a 2-byte column (65535 for a lone leaf), an NA-direction byte, then a float split value or a
bitset, the size of the left subtree, and the children. Little-endian throughout.
"""

from __future__ import annotations

import struct

from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.forest import ForestBuilder

# hex.genmodel.algos.tree.NaSplitDir values.
_NA_VS_REST = 1
_NA_LEFT = 2
_LEFT = 4
_LEAF_COLUMN = 65535


def decode_tree(builder: ForestBuilder, tree: bytes) -> int:
    """Append one compressed tree to `builder`; returns its root node index."""
    if struct.unpack_from("<H", tree, 1)[0] == _LEAF_COLUMN:
        return builder.add_leaf(_float(tree, 3))
    return _decode_node(builder, tree, 0)


def _float(tree: bytes, position: int) -> float:
    value: float = struct.unpack_from("<f", tree, position)[0]
    return value


def _decode_node(builder: ForestBuilder, tree: bytes, position: int) -> int:
    node_type = tree[position]
    column = struct.unpack_from("<H", tree, position + 1)[0]
    na_direction = tree[position + 3]
    position += 4
    na_vs_rest = na_direction == _NA_VS_REST
    left_mask = node_type & 51
    right_mask = (node_type & 0xC0) >> 2
    equal = node_type & 12
    if equal == 4:
        raise UnsupportedMojoError("tree node with a single-level equality split (pre-3.x format)")
    split = float("nan")
    bitset: tuple[bytes, int, int] | None = None
    if not na_vs_rest:
        if equal == 0:
            split = _float(tree, position)
            position += 4
        elif equal == 8:
            bitset = (tree[position : position + 4], 0, 32)
            position += 4
        else:
            offset, count = struct.unpack_from("<Hi", tree, position)
            position += 6
            size = ((count - 1) >> 3) + 1
            bitset = (tree[position : position + size], offset, count)
            position += size
    node = builder.add_split(
        column,
        equal=equal,
        na_vs_rest=na_vs_rest,
        leftward=na_direction in (_NA_LEFT, _LEFT),
        split=split,
        bitset=bitset,
    )
    if left_mask <= 3:
        size_bytes = left_mask + 1
        left_size = int.from_bytes(tree[position : position + size_bytes], "little")
        left_position = position + size_bytes
        right_position = left_position + left_size
    elif left_mask == 48:
        left_position = position
        right_position = position + 4
    else:
        raise UnsupportedMojoError(f"tree node with left mask {left_mask} (small-leaf format)")
    left = (
        builder.add_leaf(_float(tree, left_position))
        if left_mask & 16
        else _decode_node(builder, tree, left_position)
    )
    right = (
        builder.add_leaf(_float(tree, right_position))
        if right_mask & 16
        else _decode_node(builder, tree, right_position)
    )
    builder.set_children(node, left, right)
    return node

"""The forest walk on handmade trees: genmodel's split rules on the values that test their edges."""

from __future__ import annotations

import numpy as np
import pytest

from shared.mojo.forest import ForestBuilder
from shared.mojo.kernel import LOCKSTEP, ROW_BLOCK, score_forest

NAN, INF = float("nan"), float("inf")
LEVEL_COLUMN, NUMBER_COLUMN = 0, 1
DOMAINS = [5, -1]  # column 0: 5 levels; column 1: numeric


def _forest() -> ForestBuilder:
    b = ForestBuilder()
    # Tree 1 (leaves 10, 20, 30): a bitset over levels 1-3 holding level 2 (NA left), then an
    # NA-vs-rest node (NA right) that genmodel tests against its parent's, now stale, bitset.
    root = b.add_split(
        LEVEL_COLUMN,
        equal=12,
        na_vs_rest=False,
        leftward=True,
        split=NAN,
        bitset=(bytes([0b010]), 1, 3),
    )
    rest = b.add_split(
        LEVEL_COLUMN, equal=12, na_vs_rest=True, leftward=False, split=NAN, bitset=None
    )
    b.set_children(rest, b.add_leaf(10.0), b.add_leaf(20.0))
    b.set_children(root, rest, b.add_leaf(30.0))
    b.add_tree(root, 0)
    # Tree 2 (leaves 100, 200): x1 >= 0.5 on a numeric column, NA right.
    numeric = b.add_split(
        NUMBER_COLUMN, equal=0, na_vs_rest=False, leftward=False, split=0.5, bitset=None
    )
    b.set_children(numeric, b.add_leaf(100.0), b.add_leaf(200.0))
    b.add_tree(numeric, 0)
    # Tree 3 (leaves 1000, 2000): x0 >= 2.5 on the categorical column, NA (and levels past the
    # domain) left.
    threshold = b.add_split(
        LEVEL_COLUMN, equal=0, na_vs_rest=False, leftward=True, split=2.5, bitset=None
    )
    b.set_children(threshold, b.add_leaf(1000.0), b.add_leaf(2000.0))
    b.add_tree(threshold, 0)
    return b


# (x0, x1) -> the leaves of trees 1, 2 and 3.
CASES = [
    ((2.0, 0.5), (30, 200, 1000)),  # level 2 is in the bitset; 0.5 >= 0.5
    ((1.0, 0.49), (10, 100, 1000)),  # level 1 is covered but not set: not NA at the second node
    ((0.0, NAN), (20, 200, 1000)),  # level 0 is below the bitset: NA at both nodes
    ((4.0, -0.7), (20, 100, 2000)),  # level 4 is past the bitset
    ((NAN, -1.0), (20, 100, 1000)),
    ((-3.0, 1e300), (20, 200, 1000)),  # a negative level: NA for bitsets, compared by thresholds
    ((7.0, -INF), (20, 100, 1000)),  # past the domain: NA everywhere, even for the threshold
    ((5.0, INF), (20, 200, 1000)),
    ((INF, 0.0), (20, 100, 1000)),  # Java's (int) of +inf is Integer.MAX_VALUE: past the domain
    ((2.7, 0.0), (30, 100, 2000)),  # bitsets read int(x), thresholds x itself
    ((4.5, 3.0), (20, 200, 2000)),
    ((-0.5, 0.0), (20, 100, 1000)),  # int(-0.5) is level 0
]


@pytest.mark.parametrize("rows", [1, LOCKSTEP + 3, ROW_BLOCK + 5])
def test_each_value_takes_genmodels_branch(rows: int) -> None:
    forest = _forest().build(DOMAINS)
    x = np.array([CASES[i % len(CASES)][0] for i in range(rows)])
    expected = np.array([sum(CASES[i % len(CASES)][1]) for i in range(rows)], dtype=np.float64)
    out = np.zeros((rows, 1))
    score_forest(forest, x, out, float32_sum=False)
    np.testing.assert_array_equal(out[:, 0], expected)


def test_identical_decision_tables_are_stored_once() -> None:
    builder = _forest()
    for _ in range(20):
        node = builder.add_split(
            NUMBER_COLUMN, equal=0, na_vs_rest=False, leftward=False, split=0.5, bitset=None
        )
        builder.set_children(node, builder.add_leaf(1.0), builder.add_leaf(2.0))
        builder.add_tree(node, 0)
    assert len(builder.build(DOMAINS).tables) == len(_forest().build(DOMAINS).tables)

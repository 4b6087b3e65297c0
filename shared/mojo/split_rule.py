"""genmodel's split rule for one tree node, tabulated over every value a row can bring to it.

A node sends a row right when `x >= split`, or when the row's level is in a bitset; a missing
value, a level outside the bitset or outside the column's domain goes the node's NA direction, and
an NA-vs-rest node sends only those one way. genmodel tests an NA-vs-rest categorical node against
the last bitset it read on the way down (a "stale" bitset): as a node has one path from its root,
that bitset is known when the forest is laid out, not per row.

So the outcome depends on the value only through `int(x)` (below the table's length, every level
reads apart; from it up, all read alike), whether it is missing or at most -1, and, for threshold
splits, `x >= split`. `decision_table` lists it per value class; `shared.mojo.kernel` looks the
entry up instead of following the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bits of a table entry: go right; go right when x >= split.
RIGHT = 1
COMPARE = 2
# Entries after the levels: a level at or past the table's length, a missing value, x <= -1.
PAST_LEVELS, MISSING, NEGATIVE = 0, 1, 2
EXTRA_ENTRIES = 3


@dataclass(frozen=True)
class Bitset:
    """Levels `offset .. offset + count - 1` with bit `level - offset` set go right."""

    data: bytes
    offset: int
    count: int

    def position(self, level: int) -> int | None:
        """The level's bit position, or None when the bitset does not cover it."""
        position = level - self.offset
        return position if 0 <= position < self.count else None

    def holds(self, position: int) -> bool:
        """Whether bit `position` is set."""
        return (self.data[position >> 3] >> (position & 7)) & 1 == 1


@dataclass(frozen=True)
class SplitRule:
    """One split node as H2O's compressed tree (or XGBoost's booster) describes it."""

    equal: int  # 0: threshold split; otherwise a bitset split (H2O's equal 8 or 12)
    na_vs_rest: bool
    leftward: bool  # NA direction
    bitset: Bitset | None

    def last_bitset(self, above: Bitset | None) -> Bitset | None:
        """The bitset genmodel holds after this node, given the one it held before."""
        return self.bitset if not self.na_vs_rest and self.equal != 0 else above


def decision_table(rule: SplitRule, stale: Bitset | None, domain: int) -> bytes:
    """Entries for levels 0 .. n-1, then PAST_LEVELS, MISSING and NEGATIVE (see the module doc).

    `stale` is the bitset genmodel holds at this node (`last_bitset` of its ancestors and the
    node); `domain` is the column's number of levels, -1 for a numeric column.
    """
    current = rule.last_bitset(stale)
    covered = current.offset + current.count if rule.equal != 0 and current is not None else None
    if domain >= 0:
        levels = domain if covered is None else min(domain, covered)
    else:
        levels = 0 if covered is None else covered
    entries = [_entry(rule, current, domain, level) for level in range(levels)]
    entries += [_entry(rule, current, domain, level) for level in (levels, None, -1)]
    return bytes(entries)


def _entry(rule: SplitRule, current: Bitset | None, domain: int, level: int | None) -> int:
    # SharedTreeMojoModel.scoreTree's tests, in its order; `level` is int(x), None when missing.
    go_na = level is None
    position = None
    if level is not None and rule.equal != 0 and current is not None:
        position = current.position(level)
        go_na = position is None
    if level is not None and not go_na and domain >= 0:
        go_na = domain <= level
    if go_na:
        return 0 if rule.leftward else RIGHT
    if rule.na_vs_rest:
        return 0
    if rule.equal == 0:
        return COMPARE
    assert current is not None and position is not None  # a bitset split holds its own bitset
    return RIGHT if current.holds(position) else 0

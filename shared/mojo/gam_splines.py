"""GAM basis functions as genmodel 3.46.0.11 evaluates them (hex.genmodel.algos.gam), per row.

Each function takes one gam column's input values (rows with no missing input) and returns its
basis values before centering. The floating-point operations follow genmodel's order so that
results agree to the last bit wherever genmodel's own arithmetic is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.mojo.scorer import FloatArray


def times_transpose(values: FloatArray, transposed: FloatArray) -> FloatArray:
    """ArrayUtils.multArray: result[i] = sum_j values[j] * transposed[i][j], summed in j order."""
    result = np.zeros((len(values), transposed.shape[0]))
    for j in range(values.shape[1]):
        result += values[:, j, None] * transposed[:, j]
    return result


# -- cubic regression splines (bs=0): GamUtilsCubicRegression ------------------------------------


def cubic_regression(x: FloatArray, knots: FloatArray, binv_d: FloatArray) -> FloatArray:
    """expandOneGamCol: the cubic regression spline basis at every knot."""
    hj = np.diff(knots)
    last = len(knots) - 1
    # locateBin: knots are strictly increasing, so its binary search is the bin knots[b] <= x.
    bins = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, last - 1)
    bins = np.where(x <= knots[0], 0, np.where(x >= knots[last], last - 1, bins))
    low, high, h = knots[bins], knots[bins + 1], hj[bins]
    t_minus = high - x
    t_plus = x - low
    c_minus = (t_minus * t_minus * t_minus / h - t_minus * h) / 6.0
    c_plus = (t_plus * t_plus * t_plus / h - t_plus * h) / 6.0
    size = binv_d.shape[0]
    previous = binv_d[np.maximum(bins - 1, 0)]
    current = binv_d[np.minimum(bins, size - 1)]
    basis = np.where(
        (bins == 0)[:, None],
        current * c_plus[:, None],
        np.where(
            (bins >= size)[:, None],
            previous * c_minus[:, None],
            previous * c_minus[:, None] + current * c_plus[:, None],
        ),
    )
    rows = np.arange(len(x))
    basis[rows, bins] += t_minus / h
    basis[rows, bins + 1] += t_plus / h
    result: FloatArray = basis
    return result


# -- thin plate regression splines (bs=1): GamUtilsThinPlateRegression -------------------------


def int_power(base: FloatArray, exponent: int) -> FloatArray:
    """intPow: repeated multiplication, as genmodel does it (not pow)."""
    if exponent == 0:
        return np.ones_like(base)
    result = base
    for _ in range(exponent - 1):
        result = result * base
    return result


def thin_plate_constant(m: int, d: int) -> float:
    """calTPConstantTerm for penalty order m in d dimensions."""
    if d % 2 == 0:
        denominator = 2.0 ** (2 * m - 1) * math.pi ** (d / 2.0) * math.factorial(m - 1)
        return float((-1.0) ** (m + 1 + d / 2.0) / (denominator * math.factorial(m - d // 2)))
    return float((-1.0) ** m * m / (math.factorial(2 * m) * math.pi ** ((d - 1) / 2.0)))


def thin_plate_distances(x: FloatArray, knots: FloatArray, m: int) -> FloatArray:
    """calculateDistance (standardize=false): the radial basis at every knot; x is rows x d."""
    d = knots.shape[0]
    sum_squares = np.zeros((len(x), knots.shape[1]))
    for predictor in range(d):
        difference = x[:, predictor, None] - knots[predictor]
        sum_squares += difference * difference
    distance = int_power(np.sqrt(sum_squares), 2 * m - d)
    values = thin_plate_constant(m, d) * distance
    if d % 2 == 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(distance != 0, values * np.log(distance), values)
    result: FloatArray = values
    return result


def thin_plate_polynomials(x: FloatArray, powers: list[list[int]]) -> FloatArray:
    """calculatePolynomialBasis (standardize=false): one product of powers per basis."""
    result = np.empty((len(x), len(powers)))
    for column, exponents in enumerate(powers):
        value = np.ones(len(x))
        for predictor in range(x.shape[1]):
            value = value * int_power(x[:, predictor], exponents[predictor])
        result[:, column] = value
    return result


# -- I-splines (bs=2) and M-splines (bs=3): ISplines, MSplines, NBSplinesTypeI/II ---------------


def fill_knots(knots: FloatArray, order: int) -> FloatArray:
    """fillKnots: order-1 copies of the first knot, the knots, then the last knot repeated."""
    lower = max(order - 1, 0)
    filled = np.empty(len(knots) + 2 * order - 2)
    filled[:lower] = knots[0]
    filled[lower : lower + len(knots)] = knots
    filled[lower + len(knots) :] = knots[-1]
    return filled


def extract_knots(index: int, order: int, knots: FloatArray) -> FloatArray:
    """extractKnots: knots[index .. index+order], zero-padded where the sequence runs out."""
    span = np.zeros(order + 1)
    upper = min(index + order, len(knots) - 1)
    taken = knots[index : upper + 1]
    span[: len(taken)] = taken
    return span


def _reciprocals(values: FloatArray) -> FloatArray:
    """1/x, and 0 where x == 0 (genmodel's guarded denominators)."""
    safe = np.where(values == 0, 1.0, values)
    result: FloatArray = np.where(values == 0, 0.0, 1.0 / safe)
    return result


@dataclass(frozen=True)
class _Level:
    """Every node of one order in genmodel's recursive spline trees, indexed by basis index."""

    low: FloatArray
    high: FloatArray
    numerators: tuple[FloatArray, FloatArray]
    reciprocals: tuple[FloatArray, FloatArray]
    leaf: FloatArray


@dataclass(frozen=True)
class _Recursion:
    """BSplineBasis / MSplineBasis trees evaluated one order at a time for all bases at once.

    Node (i, k) of genmodel's trees has children (i, k-1) and (i+1, k-1) over the same knots, so
    each order's nodes are a vector; every element sees the same operations as in genmodel.
    """

    levels: tuple[_Level, ...]
    m_spline: bool

    @classmethod
    def build(cls, count: int, order: int, knots: FloatArray, m_spline: bool) -> _Recursion:
        """The trees of bases 0..count-1 of `order` over `knots` (already filled)."""
        levels = []
        for k in range(1, order + 1):
            spans = np.array([extract_knots(i, k, knots) for i in range(count + order - k)])
            low, high = spans[:, 0], spans[:, k]
            if k == 1:
                ones = np.ones(len(spans))
                numerators = reciprocals = (ones, np.zeros(len(spans)))
            else:
                numerators = (low, high)
                if m_spline:  # formDenominatorMSpline: both over the whole span
                    reciprocals = (_reciprocals(high - low), _reciprocals(high - low))
                else:  # formDenominatorNSpline
                    reciprocals = (
                        _reciprocals(spans[:, k - 1] - low),
                        _reciprocals(high - spans[:, 1]),
                    )
            leaf = _reciprocals(spans[:, 1] - low) if m_spline else np.ones(len(spans))
            levels.append(_Level(low, high, numerators, reciprocals, leaf))
        return cls(tuple(levels), m_spline)

    def evaluate(self, value: FloatArray) -> FloatArray:
        """evaluate(value, root) for every row (rows x bases)."""
        v = value[:, None]
        values = np.zeros(0)
        for k, level in enumerate(self.levels, start=1):
            outside = (v < level.low) | (v >= level.high)
            if k == 1:
                values = np.where(outside, 0.0, level.leaf)
                continue
            combined = (v - level.numerators[0]) * level.reciprocals[0] * values[:, :-1] + (
                level.numerators[1] - v
            ) * level.reciprocals[1] * values[:, 1:]
            if self.m_spline:
                combined = k / (k - 1.0) * combined
            values = np.where(outside, 0.0, combined)
        return values


@dataclass(frozen=True)
class ISplines:
    """hex.genmodel.algos.gam.ISplines: monotone splines built from B-splines one order higher."""

    order: int
    spans: FloatArray
    b_splines: _Recursion

    @classmethod
    def build(cls, order: int, knots: FloatArray) -> ISplines:
        """The I-spline basis of `order` over `knots` (boundary and interior, no duplicates)."""
        filled = fill_knots(knots, order)
        spans = np.array([extract_knots(i, order, filled) for i in range(len(knots) + order - 2)])
        b_knots = fill_knots(knots, order + 1)
        b_splines = _Recursion.build(len(knots) + order - 1, order + 1, b_knots, m_spline=False)
        return cls(order, spans, b_splines)

    def basis(self, value: FloatArray) -> FloatArray:
        """gamifyVal for every row."""
        top = self.b_splines.levels[-1]
        v = value[:, None]
        parts = np.where(v >= top.high, 1.0, self.b_splines.evaluate(value))
        below = v < top.low
        result = np.empty((len(value), len(self.spans)))
        for index, span in enumerate(self.spans):
            # sumNBSpline adds B-splines index+1.. in order and stops at the first it is below.
            active = np.logical_and.accumulate(~below[:, index + 1 :], axis=1)
            added = np.where(active, parts[:, index + 1 :], 0.0)
            # add.accumulate sums left to right as genmodel's loop does (np.sum would pair up).
            total = np.add.accumulate(added, axis=1)[:, -1] if added.shape[1] else 0.0
            result[:, index] = np.where(
                value < span[0], 0.0, np.where(value >= span[self.order], 1.0, total)
            )
        return result


@dataclass(frozen=True)
class MSplines:
    """hex.genmodel.algos.gam.MSplines."""

    order: int
    count: int
    trees: _Recursion

    @classmethod
    def build(cls, order: int, knots: FloatArray) -> MSplines:
        """The M-spline basis of `order` over `knots` (boundary and interior, no duplicates)."""
        count = len(knots) + order - 2
        trees = _Recursion.build(count, order, fill_knots(knots, order), m_spline=True)
        return cls(order, count, trees)

    def basis(self, value: FloatArray) -> FloatArray:
        """gamifyVal for every row (outside a basis' span it is 0, as in evaluate)."""
        return self.trees.evaluate(value)

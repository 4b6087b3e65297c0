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


def _reciprocal(value: float) -> float:
    return 0.0 if value == 0 else 1.0 / value


@dataclass(frozen=True)
class _Basis:
    """One node of genmodel's recursive B-spline (N) or M-spline tree."""

    knots: FloatArray
    numerator: tuple[float, float]
    reciprocal: tuple[float, float]
    constant: float
    children: tuple[_Basis, _Basis] | None

    def evaluate(self, value: FloatArray, m_spline: bool) -> FloatArray:
        """BSplineBasis.evaluate / MSplineBasis.evaluate."""
        outside = (value < self.knots[0]) | (value >= self.knots[-1])
        if self.children is None:
            inner = _reciprocal(self.knots[1] - self.knots[0]) if m_spline else 1.0
            return np.where(outside, 0.0, inner)
        first, second = (child.evaluate(value, m_spline) for child in self.children)
        combined = (value - self.numerator[0]) * self.reciprocal[0] * first + (
            self.numerator[1] - value
        ) * self.reciprocal[1] * second
        if m_spline:
            combined = self.constant * combined
        return np.where(outside, 0.0, combined)


def _tree(index: int, order: int, knots: FloatArray, m_spline: bool) -> _Basis:
    span = extract_knots(index, order, knots)
    if order == 1:
        numerator, reciprocal = (1.0, 0.0), (1.0, 0.0)
    else:
        numerator = (float(span[0]), float(span[order]))
        low = span[order] if m_spline else span[order - 1]
        high_start = span[0] if m_spline else span[1]
        reciprocal = (_reciprocal(low - span[0]), _reciprocal(span[order] - high_start))
    children = None
    if order > 1:
        children = (
            _tree(index, order - 1, knots, m_spline),
            _tree(index + 1, order - 1, knots, m_spline),
        )
    constant = order / (order - 1.0) if order > 1 else 1.0
    return _Basis(span, numerator, reciprocal, constant, children)


@dataclass(frozen=True)
class ISplines:
    """hex.genmodel.algos.gam.ISplines: monotone splines built from B-splines one order higher."""

    order: int
    spans: tuple[FloatArray, ...]
    b_splines: tuple[_Basis, ...]

    @classmethod
    def build(cls, order: int, knots: FloatArray) -> ISplines:
        """The I-spline basis of `order` over `knots` (boundary and interior, no duplicates)."""
        filled = fill_knots(knots, order)
        spans = tuple(extract_knots(i, order, filled) for i in range(len(knots) + order - 2))
        b_knots = fill_knots(knots, order + 1)
        b_splines = tuple(
            _tree(i, order + 1, b_knots, m_spline=False) for i in range(len(knots) + order - 1)
        )
        return cls(order, spans, b_splines)

    def basis(self, value: FloatArray) -> FloatArray:
        """gamifyVal for every row."""
        result = np.empty((len(value), len(self.spans)))
        for index, span in enumerate(self.spans):
            total = np.zeros(len(value))
            active = np.ones(len(value), dtype=bool)
            for b_spline in self.b_splines[index + 1 :]:
                active &= ~(value < b_spline.knots[0])  # sumNBSpline stops at the first one
                full = value >= b_spline.knots[self.order + 1]
                if active.any():
                    part = np.where(full, 1.0, b_spline.evaluate(value, m_spline=False))
                    total = np.where(active, total + part, total)
            result[:, index] = np.where(
                value < span[0], 0.0, np.where(value >= span[self.order], 1.0, total)
            )
        return result


@dataclass(frozen=True)
class MSplines:
    """hex.genmodel.algos.gam.MSplines."""

    order: int
    trees: tuple[_Basis, ...]

    @classmethod
    def build(cls, order: int, knots: FloatArray) -> MSplines:
        """The M-spline basis of `order` over `knots` (boundary and interior, no duplicates)."""
        filled = fill_knots(knots, order)
        count = len(knots) + order - 2
        return cls(order, tuple(_tree(i, order, filled, m_spline=True) for i in range(count)))

    def basis(self, value: FloatArray) -> FloatArray:
        """gamifyVal for every row."""
        result = np.empty((len(value), len(self.trees)))
        for index, tree in enumerate(self.trees):
            outside = (value < tree.knots[0]) | (value >= tree.knots[self.order])
            result[:, index] = np.where(outside, 0.0, tree.evaluate(value, m_spline=True))
        return result

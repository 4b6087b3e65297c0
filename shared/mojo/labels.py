"""genmodel's shared post-processing: link inverses and turning class probabilities into a label."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from shared.mojo.errors import UnsupportedMojoError

FloatArray = npt.NDArray[np.float64]


def _inverse(eta: FloatArray) -> FloatArray:
    # GLM's inverse link keeps |eta| >= 1e-5 so that 1/eta stays finite.
    clamped = np.where(eta < 0, np.minimum(-1e-5, eta), np.maximum(1e-5, eta))
    result: FloatArray = 1.0 / clamped
    return result


def _logistic(eta: FloatArray) -> FloatArray:
    # exp overflows to inf for eta << 0, giving 0 exactly as Java's Math.exp does.
    with np.errstate(over="ignore"):
        result: FloatArray = 1.0 / (1.0 + np.exp(-eta))
    return result


LINK_INVERSES: dict[str, Callable[[FloatArray], FloatArray]] = {
    "identity": lambda eta: eta,
    "logit": _logistic,
    "log": np.exp,
    "inverse": _inverse,
}


def link_inverse(name: str, allowed: tuple[str, ...]) -> Callable[[FloatArray], FloatArray]:
    """The inverse of link function `name`, refusing links outside `allowed`."""
    if name not in allowed:
        raise UnsupportedMojoError(f"link function '{name}' (supported: {', '.join(allowed)})")
    return LINK_INVERSES[name]


def binomial_labels(p1: FloatArray, threshold: float) -> FloatArray:
    """Class 1 where P(class 1) >= threshold (genmodel breaks no ties here)."""
    labels: FloatArray = (p1 >= threshold).astype(np.float64)
    return labels


def multinomial_labels(
    probabilities: FloatArray, rows: FloatArray, prior: list[float] | None
) -> FloatArray:
    """The most probable class; ties broken like genmodel, seeded by a hash of the input row."""
    best = np.argmax(probabilities, axis=1)
    maxima = probabilities[np.arange(len(best)), best]
    tied_rows = np.flatnonzero((probabilities == maxima[:, None]).sum(axis=1) > 1)
    labels: FloatArray = best.astype(np.float64)
    for row in tied_rows:
        labels[row] = _tie_break(probabilities[row], rows[row], prior)
    return labels


def _tie_break(probabilities: FloatArray, row: FloatArray, prior: list[float] | None) -> int:
    # A transcription of GenModel.getPredictionMultinomial (3.46), including the candidate list
    # that always starts with class 0 and keeps candidates from before a new maximum appeared.
    ties = [0]
    best, tie_count = 0, 0
    for c in range(1, len(probabilities)):
        if probabilities[best] < probabilities[c]:
            best, tie_count = c, 0
        elif probabilities[best] == probabilities[c]:
            tie_count += 1
            ties.append(c)
    if tie_count == 0:
        return best
    seed = 0
    for bits in np.ascontiguousarray(row, dtype=np.float64).view(np.int64):
        seed ^= int(bits) >> 6
    if prior is not None:
        total = 0.0
        for candidate in ties:
            total += prior[candidate]
        draw = _java_random_double(seed)
        cumulative = 0.0
        for candidate in ties:
            cumulative += prior[candidate] / total
            if draw <= cumulative:
                return candidate
    low = seed & 0xFFFFFFFF
    as_int = low - (1 << 32) if low >= 1 << 31 else low
    remaining = abs(as_int) % (tie_count + 1) * (1 if as_int >= 0 else -1)
    for c in range(len(probabilities)):
        if probabilities[c] == probabilities[best]:
            remaining -= 1
            if remaining < 0:
                return c
    raise AssertionError("no class holds the maximum probability")


def _java_random_double(seed: int) -> float:
    """`new java.util.Random(seed).nextDouble()`."""
    mask = (1 << 48) - 1
    state = (seed ^ 0x5DEECE66D) & mask

    def following(bits: int) -> int:
        nonlocal state
        state = (state * 0x5DEECE66D + 0xB) & mask
        return state >> (48 - bits)

    high = following(26)
    return float(((high << 27) + following(27)) * 2.0**-53)


def classification_preds(probabilities: FloatArray, labels: FloatArray) -> FloatArray:
    """genmodel's `preds` layout: label index first, then one probability per class."""
    stacked: FloatArray = np.column_stack([labels, probabilities])
    return stacked

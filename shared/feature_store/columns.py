"""Feature columns of a batch: the JSON type of each cell, and the cells converted to one type.

A CSV column is text, typed here with vectorised pandas string operations under the rules every
path shares (`shared.input_values`: PredictCsv's missing tokens, Java's trim and number grammar);
whether it is a number column is decided by the caller (from `feature_definitions` when the key is
known, else from the counts), so text in a numeric column is a bad cell, never a silently kept
string. Columns of typed sources (Parquet, DataFrames) keep each cell's own type.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np
import pandas as pd

from shared.feature_store.contract import value_reason
from shared.feature_store.values import PlainValue, ValueType, is_missing, quote
from shared.input_values import (
    JAVA_WHITESPACE,
    MISSING_TOKENS,
    NUMBER_PATTERN,
    PLAIN_DECIMAL_PATTERN,
    number_from_text,
)

_INTEGER_TEXT = r"[+-]?\d+"
# Integers of up to 18 digits are inside the 64-bit range the contract allows; longer ones are
# checked by the contract itself.
_SAFE_INTEGER_DIGITS = 18
_BOOLEAN_TEXT = {"true": True, "false": False}


@dataclass
class Converted:
    """A column's cells as one type (None: missing or rejected); errors by position."""

    values: list[PlainValue | None]
    errors: dict[int, str] = field(default_factory=dict)


class FeatureColumn(Protocol):
    """One feature column of a batch."""

    def type_counts(self) -> Counter[ValueType]:
        """How many non-missing cells have each JSON type."""
        ...

    def convert(self, expected: ValueType | None) -> Converted:
        """The cells as `expected`; a cell of another type is an error, never coerced."""
        ...


def read_column(series: pd.Series, from_text: bool) -> FeatureColumn:
    """A CSV column (all text) or a column of a typed source."""
    return TextColumn(series) if from_text else TypedColumn(series.tolist())


class TextColumn:
    """A column of text cells; blank text and the other missing tokens are missing values."""

    def __init__(self, series: pd.Series) -> None:
        stripped = series.astype(str).str.strip(JAVA_WHITESPACE)
        lowered = stripped.str.lower()
        self._texts: list[str] = series.astype(str).tolist()
        self._stripped: list[str] = stripped.tolist()
        self._blank = stripped.isin(MISSING_TOKENS).to_numpy(dtype=bool)
        self._number = stripped.str.fullmatch(NUMBER_PATTERN).to_numpy(dtype=bool)
        self._integer = stripped.str.fullmatch(_INTEGER_TEXT).to_numpy(dtype=bool)
        self._plain = stripped.str.fullmatch(PLAIN_DECIMAL_PATTERN).to_numpy(dtype=bool)
        self._boolean = lowered.isin(list(_BOOLEAN_TEXT)).to_numpy(dtype=bool)
        self._true = (lowered == "true").to_numpy(dtype=bool)
        self._nul = series.astype(str).str.contains("\x00", regex=False).to_numpy(dtype=bool)

    def type_counts(self) -> Counter[ValueType]:
        """How many non-blank cells read as numbers, booleans and other text."""
        number, boolean = int(self._number.sum()), int(self._boolean.sum())
        string = len(self._texts) - int(self._blank.sum()) - number - boolean
        counts: Counter[ValueType] = Counter()
        counts["number"], counts["boolean"], counts["string"] = number, boolean, string
        return +counts

    def convert(self, expected: ValueType | None) -> Converted:
        """Text as `expected`; numeric text in a string column stays the text it was.

        Column-wise: only cells that need a reason (or Java's rarer number forms) are visited
        one by one.
        """
        texts = np.array(self._texts, dtype=object)
        values = np.full(len(texts), None, dtype=object)
        errors: dict[int, str] = {}
        present = ~self._blank
        if expected == "string":
            values[present] = texts[present]
            for position in np.flatnonzero(present & self._nul).tolist():
                errors[position] = value_reason(self._texts[position])
                values[position] = None
            return Converted(values.tolist(), errors)
        fits = self._number if expected == "number" else self._boolean
        for position in np.flatnonzero(present & ~fits).tolist():
            errors[position] = f"expected a {expected}, got text {quote(self._texts[position])}"
        if expected == "boolean":
            values[present & fits] = self._true[present & fits].tolist()
            return Converted(values.tolist(), errors)
        stripped = np.array(self._stripped, dtype=object)
        integers = present & self._integer
        values[integers] = [int(text) for text in stripped[integers].tolist()]
        plain = present & self._plain & ~self._integer
        # Plain decimals read the same in Python as in Java: correctly rounded doubles.
        parsed = np.asarray(stripped[plain].tolist(), dtype=np.float64)
        finite = np.isfinite(parsed)
        values[np.flatnonzero(plain)[finite]] = parsed[finite].tolist()
        java_forms = np.flatnonzero(present & fits & ~self._plain & ~self._integer).tolist()
        for position in [*np.flatnonzero(plain)[~finite].tolist(), *java_forms]:
            number = number_from_text(self._stripped[position])
            if number is not None and math.isfinite(number):
                values[position] = number
            else:
                errors[position] = f"number {self._stripped[position]} is out of range"
        for position in np.flatnonzero(integers).tolist():
            if len(self._stripped[position]) > _SAFE_INTEGER_DIGITS:
                reason = value_reason(values[position])
                if reason:
                    errors[position], values[position] = reason, None
        return Converted(values.tolist(), errors)


class TypedColumn:
    """A column whose cells keep their Python/numpy types."""

    def __init__(self, values: list[object]) -> None:
        self._values = values
        # None: a missing cell, or one of a type features cannot have (see `_unsupported`).
        self._types = [None if is_missing(value) else _type_of(value) for value in values]
        self._unsupported = {
            position
            for position, (value, kind) in enumerate(zip(values, self._types, strict=True))
            if kind is None and not is_missing(value)
        }

    def type_counts(self) -> Counter[ValueType]:
        """How many non-missing cells are numbers, strings and booleans."""
        return Counter(kind for kind in self._types if kind is not None)

    def convert(self, expected: ValueType | None) -> Converted:
        """Cells of type `expected` as plain Python values; others are errors."""
        result = Converted([None] * len(self._values))
        for position, kind in enumerate(self._types):
            value = self._values[position]
            if position in self._unsupported:
                result.errors[position] = (
                    f"unsupported value type {type(value).__name__} "
                    "(features are numbers, strings or booleans)"
                )
            elif kind is None:
                continue
            elif kind != expected:
                result.errors[position] = f"expected a {expected}, got {kind} {quote(value)}"
            else:
                # numpy scalars become Python values that the strict schema and JSON accept.
                plain = value.item() if isinstance(value, np.generic) else value
                reason = value_reason(plain)
                if reason:
                    result.errors[position] = reason
                else:
                    result.values[position] = cast(PlainValue, plain)
        return result


def _type_of(value: object) -> ValueType | None:
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def infer_type(counts: Counter[ValueType]) -> ValueType | None:
    """The type most cells have (None for a column without values); ties go to "string"."""
    if not counts:
        return None
    # Text can hold any of the others without losing what was written.
    return min(counts, key=lambda kind: (-counts[kind], kind != "string"))

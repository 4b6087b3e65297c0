"""Feature columns of a batch: the JSON type of each cell, and the cells converted to one type.

A CSV column is text, typed here with pyarrow kernels (RE2) under the rules every
path shares (`shared.input_values`: PredictCsv's missing tokens, Java's trim and number grammar);
whether it is a number column is decided by the caller (from `feature_definitions` when the key is
known, else from the counts), so text in a numeric column is a bad cell, never a silently kept
string. Columns of typed sources (Parquet, DataFrames) keep each cell's own type.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.feature_store.contract import value_reason
from shared.feature_store.values import PlainValue, ValueType, is_missing, quote
from shared.input_values import (
    JAVA_WHITESPACE,
    MISSING_TOKENS,
    NUMBER_PATTERN,
    PLAIN_DECIMAL_PATTERN,
    number_from_text,
)

_INTEGER_TEXT = r"[+-]?[0-9]+"
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

    def rows(self, start: int, stop: int) -> FeatureColumn:
        """The cells of rows `start` to `stop` (excluded), as screened already."""
        ...


def read_column(series: pd.Series, from_text: bool) -> FeatureColumn:
    """A CSV column (all text) or a column of a typed source."""
    return TextColumn(series) if from_text else TypedColumn(series.tolist())


class TextColumn:
    """A column of text cells; blank text and the other missing tokens are missing values.

    Screened with pyarrow's kernels (RE2 regular expressions, without the GIL); a cell's Python
    text is only read where it becomes a value or a reason.
    """

    def __init__(self, series: pd.Series) -> None:
        self._texts = pa.array(series.astype(str))
        self._stripped = pc.utf8_trim(self._texts, JAVA_WHITESPACE)
        lowered = pc.utf8_lower(self._stripped)
        self._blank = _flags(pc.is_in(self._stripped, pa.array(sorted(MISSING_TOKENS))))
        self._number = self._fullmatch(NUMBER_PATTERN)
        self._boolean = _flags(pc.is_in(lowered, pa.array(list(_BOOLEAN_TEXT))))
        self._true = _flags(pc.equal(lowered, "true"))

    def type_counts(self) -> Counter[ValueType]:
        """How many non-blank cells read as numbers, booleans and other text."""
        number, boolean = int(self._number.sum()), int(self._boolean.sum())
        string = len(self._texts) - int(self._blank.sum()) - number - boolean
        counts: Counter[ValueType] = Counter()
        counts["number"], counts["boolean"], counts["string"] = number, boolean, string
        return +counts

    def rows(self, start: int, stop: int) -> TextColumn:
        """The cells of rows `start` to `stop` (excluded) with their screens (views, no copies)."""
        part = copy.copy(self)
        part._texts = self._texts.slice(start, stop - start)
        part._stripped = self._stripped.slice(start, stop - start)
        part._blank, part._number = self._blank[start:stop], self._number[start:stop]
        part._boolean, part._true = self._boolean[start:stop], self._true[start:stop]
        return part

    def convert(self, expected: ValueType | None) -> Converted:
        """Text as `expected`; numeric text in a string column stays the text it was.

        Column-wise: only cells that need a reason (or Java's rarer number forms) are visited
        one by one.
        """
        values = np.full(len(self._texts), None, dtype=object)
        errors: dict[int, str] = {}
        present = ~self._blank
        if expected == "string":
            values[present] = self._texts.filter(present).to_pylist()
            nul = _flags(pc.match_substring(self._texts, "\x00"))
            for position in np.flatnonzero(present & nul).tolist():
                errors[position] = value_reason(self._text(position))
                values[position] = None
            return Converted(values.tolist(), errors)
        fits = self._number if expected == "number" else self._boolean
        for position in np.flatnonzero(present & ~fits).tolist():
            errors[position] = f"expected a {expected}, got text {quote(self._text(position))}"
        if expected == "boolean":
            values[present & fits] = self._true[present & fits].tolist()
            return Converted(values.tolist(), errors)
        integers = present & self._fullmatch(_INTEGER_TEXT)
        lengths = pc.utf8_length(self._stripped).to_numpy(zero_copy_only=False)
        safe = integers & (lengths <= _SAFE_INTEGER_DIGITS)
        # Arrow reads no leading "+"; the integer pattern allows one.
        digits = pc.utf8_ltrim(self._stripped.filter(safe), "+")
        values[safe] = pc.cast(digits, pa.int64()).to_numpy().tolist()
        for position in np.flatnonzero(integers & ~safe).tolist():
            whole = int(self._stripped[position].as_py())
            reason = value_reason(whole)
            if reason:
                errors[position] = reason
            else:
                values[position] = whole
        decimals = present & ~integers & self._fullmatch(PLAIN_DECIMAL_PATTERN)
        # Plain decimals read the same in Arrow as in Java: correctly rounded doubles.
        parsed = pc.cast(self._stripped.filter(decimals), pa.float64()).to_numpy()
        finite = np.isfinite(parsed)
        values[np.flatnonzero(decimals)[finite]] = parsed[finite].tolist()
        java_forms = present & fits & ~decimals & ~integers
        rare = np.flatnonzero(decimals)[~finite].tolist()
        for position in [*rare, *np.flatnonzero(java_forms).tolist()]:
            stripped = str(self._stripped[position].as_py())
            number = number_from_text(stripped)
            if number is not None and math.isfinite(number):
                values[position] = number
            else:
                errors[position] = f"number {stripped} is out of range"
        return Converted(values.tolist(), errors)

    def _text(self, position: int) -> str:
        return str(self._texts[position].as_py())

    def _fullmatch(self, pattern: str) -> npt.NDArray[np.bool_]:
        """Where the stripped text is all `pattern` (ASCII patterns: RE2 reads them as `re`)."""
        return _flags(pc.match_substring_regex(self._stripped, f"^(?:{pattern})$"))


def _flags(result: pa.Array) -> npt.NDArray[np.bool_]:
    flags: npt.NDArray[np.bool_] = result.to_numpy(zero_copy_only=False)
    return flags


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

    def rows(self, start: int, stop: int) -> TypedColumn:
        """The cells of rows `start` to `stop` (excluded), typed already."""
        part = copy.copy(self)
        part._values, part._types = self._values[start:stop], self._types[start:stop]
        part._unsupported = {at - start for at in self._unsupported if start <= at < stop}
        return part

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

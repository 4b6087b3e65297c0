"""Input values to the rows genmodel scores, read the way PredictCsv / EasyPredictModelWrapper do.

Numeric columns: numbers, or text that parses as one. Categorical columns: the level's index in the
model's domain; a level never seen in training becomes missing. Missing everywhere: None, NaN, a
column absent from the frame, and the PredictCsv tokens "", "NA", "N/A" and "-".

Serving scores 1-256 rows at a time, where pandas' per-call overhead would dominate, so small inputs
go through plain loops over Python values; large text columns (a CSV read as text) go through
pyarrow's compute kernels instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.mojo.errors import MojoInputError
from shared.mojo.scorer import FloatArray

MISSING_TOKENS = frozenset(("", "NA", "N/A", "-"))
_NAN = float("nan")
_ARROW_MISSING = pa.array(sorted(MISSING_TOKENS))
# Below this many rows the Python loops are cheaper than setting up arrow kernels.
ARROW_MIN_ROWS = 512


@dataclass(frozen=True)
class RowEncoder:
    """Encodes frames for one model: column order and level lookups are built once, at load."""

    names: tuple[str, ...]
    levels: tuple[dict[str, float] | None, ...]
    arrow_levels: tuple[pa.Array | None, ...]

    @classmethod
    def for_columns(cls, names: list[str], domains: list[list[str] | None]) -> RowEncoder:
        """An encoder for columns `names` whose categorical levels are `domains` (None: numeric)."""
        lookups = tuple(
            None
            if domain is None
            # PredictCsv drops missing tokens before looking a level up, so they never match.
            else {level: float(i) for i, level in enumerate(domain) if level not in MISSING_TOKENS}
            for domain in domains
        )
        arrow_levels = tuple(None if domain is None else pa.array(domain) for domain in domains)
        return cls(tuple(names), lookups, arrow_levels)

    def encode(self, frame: pd.DataFrame) -> FloatArray:
        """One float64 row per frame row, one column per model feature (NaN = missing)."""
        rows = np.full((len(frame), len(self.names)), np.nan)
        present = set(frame.columns)
        columns = zip(self.names, self.levels, self.arrow_levels, strict=True)
        for index, (name, lookup, arrow_levels) in enumerate(columns):
            if name not in present:
                continue
            position = frame.columns.get_loc(name)
            if not isinstance(position, int):
                raise MojoInputError(f"column '{name}' appears more than once in the input")
            # The column's array without building a Series: a Series costs more than scoring a
            # single row does.
            values = frame._get_column_array(position)  # type: ignore[operator]
            text = _arrow_text(values)
            if lookup is None:
                parsed = None if text is None else _arrow_numeric(text)
                rows[:, index] = _numeric(values, name) if parsed is None else parsed
            elif text is not None and arrow_levels is not None:
                rows[:, index] = _arrow_levels(text, arrow_levels)
            else:
                rows[:, index] = _levels(values.tolist(), lookup)
        return rows


def _numeric(values: Any, name: str) -> FloatArray:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise MojoInputError(f"column '{name}' is numeric but holds booleans")
    if pd.api.types.is_numeric_dtype(dtype):
        if isinstance(values, np.ndarray):
            return values.astype(np.float64)
        converted: FloatArray = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return converted
    out = np.empty(len(values))
    for position, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, str) and value in MISSING_TOKENS):
            out[position] = _NAN
            continue
        try:
            if isinstance(value, bool):
                raise ValueError(value)
            out[position] = float(value)
        except (TypeError, ValueError) as error:
            raise MojoInputError(
                f"column '{name}' is numeric but row {position} holds {value!r}"
            ) from error
    return out


def _arrow_text(values: Any) -> pa.Array | None:
    # Large string columns backed by (or convertible to) arrow, with the missing tokens as nulls.
    if len(values) < ARROW_MIN_ROWS or not hasattr(values, "__arrow_array__"):
        return None
    array = pa.array(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    missing = pc.is_in(array, value_set=_ARROW_MISSING.cast(array.type))
    cleaned: pa.Array = pc.if_else(missing, pa.scalar(None, array.type), array)
    return cleaned


def _arrow_numeric(text: pa.Array) -> FloatArray | None:
    try:
        parsed = pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        return None  # the row-by-row parser finds the bad value and names it
    result: FloatArray = parsed.to_numpy(zero_copy_only=False)
    return result


def _arrow_levels(text: pa.Array, levels: pa.Array) -> FloatArray:
    # Unseen levels and missing values both come back null, which becomes NaN.
    positions = pc.index_in(text, value_set=levels.cast(text.type))
    result: FloatArray = positions.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return result


def _levels(values: list[Any], lookup: dict[str, float]) -> FloatArray:
    # Unseen levels and missing values both score as NA (PredictCsv converts unknown levels to NA).
    get = lookup.get
    return np.fromiter(
        (get(v if isinstance(v, str) else _level_text(v), _NAN) for v in values),
        dtype=np.float64,
        count=len(values),
    )


def _level_text(value: object) -> str:
    # Levels of a numeric column made categorical in H2O read "1"; a frame holding 1 or 1.0 must
    # find that level.
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)

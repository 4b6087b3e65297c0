"""Encoding of pandas frames for `MojoModel.predict`, with the value readers of `encoding`.

Small frames go through those plain-Python readers; large text columns (a CSV read as text) go
through pyarrow's compute kernels instead, which read them the same way at C speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.input_values import MISSING_TOKENS, PLAIN_DECIMAL_PATTERN
from shared.mojo.encoding import RowEncoder, look_up_levels, parse_numbers
from shared.mojo.errors import MojoInputError
from shared.mojo.scorer import FloatArray

_ARROW_MISSING = pa.array(sorted(MISSING_TOKENS))
# Below this many rows the Python loops are cheaper than setting up arrow kernels.
ARROW_MIN_ROWS = 512


def encode_frame(encoder: RowEncoder, frame: pd.DataFrame) -> FloatArray:
    """One float64 row per frame row, one column per model feature (NaN = missing)."""
    rows = np.full((len(frame), len(encoder.names)), np.nan)
    present = set(frame.columns)
    columns = zip(encoder.names, encoder.levels, encoder.domains, strict=True)
    for index, (name, lookup, domain) in enumerate(columns):
        if name not in present:
            continue
        position = frame.columns.get_loc(name)
        if not isinstance(position, int):
            raise MojoInputError(f"column '{name}' appears more than once in the input")
        values = frame.iloc[:, position].array
        text = _arrow_text(values)
        if lookup is None:
            parsed = None if text is None else _arrow_numeric(text)
            rows[:, index] = _numeric(values, name) if parsed is None else parsed
        elif text is not None and domain is not None:
            rows[:, index] = _arrow_levels(text, pa.array(domain))
        else:
            rows[:, index] = look_up_levels(values.tolist(), lookup)
    return rows


def _numeric(values: Any, name: str) -> FloatArray:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise MojoInputError(f"column '{name}' is numeric but holds booleans")
    if pd.api.types.is_numeric_dtype(dtype):
        converted: FloatArray = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return converted
    return parse_numbers(values.tolist(), name)


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
    # Arrow's cast reads plain decimals exactly as Double.parseDouble does; anything else (Java's
    # suffixes, NaN, hex, a bad value to name) goes through the row-by-row reader.
    if not pc.all(pc.match_substring_regex(text, f"^{PLAIN_DECIMAL_PATTERN}$")).as_py():
        return None
    parsed = pc.cast(text, pa.float64())
    result: FloatArray = parsed.to_numpy(zero_copy_only=False)
    return result


def _arrow_levels(text: pa.Array, levels: pa.Array) -> FloatArray:
    # Unseen levels and missing values both come back null, which becomes NaN.
    positions = pc.index_in(text, value_set=levels.cast(text.type))
    result: FloatArray = positions.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return result

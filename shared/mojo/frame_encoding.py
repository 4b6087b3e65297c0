"""Encoding of pandas frames for `MojoModel.predict`, with the value readers of `encoding`.

Small frames go through those plain-Python readers; large text columns (a CSV read as text) go
through pyarrow's compute kernels and `decimal_text`'s parser instead, which read them the same
way at C speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.input_values import MISSING_TOKENS
from shared.mojo.decimal_text import parse_plain_decimals
from shared.mojo.encoding import RowEncoder, look_up_levels, parse_numbers, require_offsets
from shared.mojo.errors import MojoInputError
from shared.mojo.scorer import FloatArray

_ARROW_MISSING = pa.array(sorted(MISSING_TOKENS))
# Below this many rows the Python loops are cheaper than setting up arrow kernels.
ARROW_MIN_ROWS = 512


def encode_frame(encoder: RowEncoder, frame: pd.DataFrame) -> FloatArray:
    """One float64 row per frame row, one column per model feature (NaN = missing)."""
    rows = np.full((len(frame), len(encoder.names) + (encoder.offset is not None)), np.nan)
    present = set(frame.columns)
    columns = zip(encoder.names, encoder.levels, encoder.domains, strict=True)
    for index, (name, lookup, domain) in enumerate(columns):
        if name not in present:
            continue
        values = _column(frame, name)
        strings = _arrow_strings(values)
        if lookup is None:
            parsed = None if strings is None else parse_plain_decimals(strings)
            rows[:, index] = _numeric(values, name) if parsed is None else parsed
        elif strings is not None and domain is not None:
            rows[:, index] = _arrow_levels(strings, domain, encoder.unseen)
        else:
            rows[:, index] = look_up_levels(values.tolist(), lookup, encoder.unseen)
    if encoder.offset is not None:
        rows[:, -1] = require_offsets(_offsets(frame, encoder.offset, present), encoder.offset)
    return rows


def _column(frame: pd.DataFrame, name: str) -> Any:
    position = frame.columns.get_loc(name)
    if not isinstance(position, int):
        raise MojoInputError(f"column '{name}' appears more than once in the input")
    return frame.iloc[:, position].array


def _offsets(frame: pd.DataFrame, name: str, present: set[Any]) -> FloatArray:
    if name not in present:
        return np.full(len(frame), np.nan)
    values = _column(frame, name)
    strings = _arrow_strings(values)
    parsed = None if strings is None else parse_plain_decimals(strings)
    return _numeric(values, name) if parsed is None else parsed


def _numeric(values: Any, name: str) -> FloatArray:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise MojoInputError(f"column '{name}' is numeric but holds booleans")
    if pd.api.types.is_numeric_dtype(dtype):
        converted: FloatArray = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return converted
    return parse_numbers(values.tolist(), name)


def _arrow_strings(values: Any) -> pa.Array | None:
    # Large string columns backed by (or convertible to) arrow.
    if len(values) < ARROW_MIN_ROWS or not hasattr(values, "__arrow_array__"):
        return None
    array = pa.array(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array


def _without_missing(array: pa.Array) -> pa.Array:
    # The missing tokens as nulls.
    missing = pc.is_in(array, value_set=_ARROW_MISSING.cast(array.type))
    cleaned: pa.Array = pc.if_else(missing, pa.scalar(None, array.type), array)
    return cleaned


def _arrow_levels(text: pa.Array, domain: tuple[str, ...], unseen: float) -> FloatArray:
    # PredictCsv drops the missing tokens before looking a level up, so a level spelt like one
    # is never found: null in the value set, which matches nothing when nulls are skipped. No
    # pass to null the tokens in `text` first (it was a third of this function's time).
    levels = pa.array([None if level in MISSING_TOKENS else level for level in domain], text.type)
    positions = pc.index_in(text, value_set=levels, skip_nulls=True)
    # Unseen levels and missing values both come back null, which becomes NaN.
    result: FloatArray = positions.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if not np.isnan(unseen):
        present = _without_missing(text).is_valid().to_numpy(zero_copy_only=False)
        result[present & np.isnan(result)] = unseen
    return result

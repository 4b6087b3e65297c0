"""Plain decimal text to float64 without the GIL, exactly as a correctly rounded parser reads it.

`frame_encoding` used to check a text column against `PLAIN_DECIMAL_PATTERN` with arrow's regex
and then cast it: the regex alone was most of the time of encoding a CSV-sized frame. This kernel
does both in one pass over the arrow buffers. A value whose significant digits fit in 2^53 and
whose decimal exponent is within +-22 is one exact IEEE multiplication or division (Clinger's
fast path), so it is the correctly rounded double that `Double.parseDouble` and arrow's cast
give; any other plain decimal is handed to arrow's cast, and a column holding anything that is
not a plain decimal is left to the caller's row-by-row reader.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from shared.input_values import MISSING_TOKENS
from shared.mojo.kernel import compile_nogil
from shared.mojo.scorer import FloatArray

# Status codes of one value.
_PARSED, _NOT_PLAIN, _SLOW = 0, 1, 2
_MAX_EXACT = 2**53
_MAX_DIGITS = 17  # accumulated digits: enough to exceed 2^53, too few to overflow int64
_POWERS = np.array([10.0**k for k in range(23)])
_MISSING_TOKENS = (
    np.frombuffer(b"".join(token.encode() for token in sorted(MISSING_TOKENS)) or b"\0", np.uint8),
    np.cumsum([0, *(len(token.encode()) for token in sorted(MISSING_TOKENS))], dtype=np.int64),
)
_ZERO, _NINE = ord("0"), ord("9")
_PLUS, _MINUS, _DOT = ord("+"), ord("-"), ord(".")
_E, _E_UPPER = ord("e"), ord("E")


def _parse_one(
    data: npt.NDArray[np.uint8], start: int, stop: int, powers: npt.NDArray[np.float64]
) -> tuple[int, float]:
    i = start
    negative = False
    if i < stop and (data[i] == _PLUS or data[i] == _MINUS):
        negative = data[i] == _MINUS
        i += 1
    mantissa = 0
    digits = 0  # significant digits (after leading zeros) accumulated into mantissa
    seen = 0  # digits of the mantissa text, leading zeros included
    scale = 0  # decimal exponent contributed by the fraction
    while i < stop and _ZERO <= data[i] <= _NINE:
        if mantissa > 0 or data[i] != _ZERO:
            digits += 1
            if digits <= _MAX_DIGITS:
                mantissa = mantissa * 10 + (data[i] - _ZERO)
        seen += 1
        i += 1
    if i < stop and data[i] == _DOT:
        i += 1
        while i < stop and _ZERO <= data[i] <= _NINE:
            if mantissa > 0 or data[i] != _ZERO:
                digits += 1
                if digits <= _MAX_DIGITS:
                    mantissa = mantissa * 10 + (data[i] - _ZERO)
            if digits <= _MAX_DIGITS:
                scale -= 1
            seen += 1
            i += 1
    if seen == 0:
        return _NOT_PLAIN, 0.0
    exponent = 0
    if i < stop and (data[i] == _E or data[i] == _E_UPPER):
        i += 1
        exponent_negative = False
        if i < stop and (data[i] == _PLUS or data[i] == _MINUS):
            exponent_negative = data[i] == _MINUS
            i += 1
        if i == stop:
            return _NOT_PLAIN, 0.0
        while i < stop and _ZERO <= data[i] <= _NINE:
            if exponent < 100_000:  # far past any double; keeps the sum from overflowing
                exponent = exponent * 10 + (data[i] - _ZERO)
            i += 1
        if exponent_negative:
            exponent = -exponent
    if i != stop:
        return _NOT_PLAIN, 0.0
    if mantissa == 0:
        value = 0.0
    elif digits > _MAX_DIGITS or mantissa > _MAX_EXACT:
        return _SLOW, 0.0
    else:
        power = scale + exponent
        if power < -22 or power > 22:
            return _SLOW, 0.0
        value = mantissa * powers[power] if power >= 0 else mantissa / powers[-power]
    return _PARSED, -value if negative else value


def _is_token(
    data: npt.NDArray[np.uint8],
    start: int,
    stop: int,
    tokens: npt.NDArray[np.uint8],
    token_offsets: npt.NDArray[np.int64],
) -> bool:
    for token in range(token_offsets.shape[0] - 1):
        first, last = token_offsets[token], token_offsets[token + 1]
        if last - first == stop - start:
            same = True
            for i in range(last - first):
                if data[start + i] != tokens[first + i]:
                    same = False
                    break
            if same:
                return True
    return False


def _parse_column(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    missing_tokens: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
    out: npt.NDArray[np.float64],
    slow: npt.NDArray[np.bool_],
) -> bool:
    tokens, token_offsets = missing_tokens
    for row in range(out.shape[0]):
        if not valid[row]:
            out[row] = np.nan
            continue
        start, stop = offsets[row], offsets[row + 1]
        status, value = _parse_one_compiled(data, start, stop, _POWERS)
        if status == _NOT_PLAIN:
            # No missing token is a plain decimal, so they are looked for only here.
            if _is_token_compiled(data, start, stop, tokens, token_offsets):
                out[row] = np.nan
                continue
            return False
        slow[row] = status == _SLOW
        out[row] = value
    return True


# Inlined into the column loop: a call per value was a fifth of the parse.
_parse_one_compiled = compile_nogil(_parse_one, inline=True)
_is_token_compiled = compile_nogil(_is_token, inline=True)
_parse_column_compiled = compile_nogil(_parse_column)
# What the shipped kernel cache compiles (shared/kernel_cache.py).
COMPILED = (_parse_column_compiled,)


def parse_plain_decimals(text: pa.Array) -> FloatArray | None:
    """`text` as float64 (nulls and PredictCsv's missing tokens: NaN), or None if a value is
    neither missing nor a plain decimal."""
    validity, offsets_buffer, data_buffer = text.buffers()[:3]
    offset_type = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[text.offset :][: len(text) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(1, np.uint8)
    valid = _valid(text, validity)
    out = np.empty(len(text))
    slow = np.zeros(len(text), dtype=np.bool_)
    if not _parse_column_compiled(data, offsets, valid, _MISSING_TOKENS, out, slow):
        return None
    if slow.any():
        # Many digits or a large exponent: arrow's correctly rounded cast, for those rows only.
        rows = np.flatnonzero(slow)
        cast: Any = pc.cast(text.take(pa.array(rows)), pa.float64())
        out[rows] = cast.to_numpy(zero_copy_only=False)
    return out


def _valid(text: pa.Array, validity: pa.Buffer | None) -> npt.NDArray[np.bool_]:
    if validity is None or text.null_count == 0:
        return np.ones(len(text), dtype=np.bool_)
    mask: npt.NDArray[np.bool_] = text.is_valid().to_numpy(zero_copy_only=False)
    return mask

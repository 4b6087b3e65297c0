"""Reading single source cells: missing values, timestamps, entity ids, raw records."""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from typing import Literal

import numpy as np
import pandas as pd

from shared.input_values import MISSING_TOKENS, java_trim

ValueType = Literal["number", "string", "boolean"]
PlainValue = float | int | str | bool


class CellError(ValueError):
    """A cell that cannot become a value of the feature store; the message is the reason."""


def is_missing(value: object) -> bool:
    """Whether a source cell is missing: None, NaN, NaT, pandas NA, or a missing token as text."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and java_trim(value) in MISSING_TOKENS


def parse_timestamp(value: object, assume_timezone: tzinfo | None) -> datetime:
    """An aware datetime from a datetime or ISO 8601 text; naive ones need `assume_timezone`."""
    if isinstance(value, pd.Timestamp):
        parsed = value.to_pydatetime()
    elif isinstance(value, datetime):
        parsed = value
    elif isinstance(value, np.datetime64):
        parsed = pd.Timestamp(value).to_pydatetime()
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CellError(f"unparseable timestamp {quote(value)} (expected ISO 8601)") from None
    else:
        raise CellError(f"expected a timestamp, got {type(value).__name__} {quote(value)}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if assume_timezone is None:
            raise CellError(
                f"timestamp {quote(value)} has no time zone "
                "(give one, or pass --assume-timezone to accept naive timestamps)"
            )
        parsed = parsed.replace(tzinfo=assume_timezone)
    return parsed


def entity_text(value: object) -> str:
    """An entity id as text; integer ids are written in decimal, anything else is an error."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return str(int(value))
    raise CellError(f"entity id must be text or an integer, got {type(value).__name__}")


def jsonable(value: object) -> object:
    """A source cell as a JSON value for the quarantine's raw record (NaN becomes null)."""
    if is_missing(value) and not isinstance(value, str):
        return None
    if isinstance(value, datetime | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, int | float | bool):
        return value
    return repr(value)


def storable_text(text: str) -> str:
    """Text PostgreSQL can store: U+0000 is written as the four characters \\x00."""
    return text.replace("\x00", "\\x00")


def quote(value: object) -> str:
    """A cell shown in a reason: repr of its text, shortened to 80 characters."""
    text = str(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")

"""A batch's entity and event-time columns: text screened column-wise, other cells one by one.

A text cell that passes a screen here is what the per-cell rules (`values.entity_text`,
`contract.entity_reason`, `values.parse_timestamp`) accept for sure; every other cell goes through
those rules, which give the reason when they refuse it. So the screens only skip work: a test holds
them to the per-cell rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.feature_store.contract import ENTITY_ID_MAX_LENGTH, entity_reason
from shared.feature_store.values import CellError, entity_text, is_missing, parse_timestamp
from shared.input_values import JAVA_WHITESPACE, MISSING_TOKENS

# An instant with an explicit offset, in the form Python and PostgreSQL read alike, so such a cell
# is written to COPY as it is (years before 1000 and other forms are rendered from the datetime).
ISO_INSTANT = (
    r"[1-9]\d{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[T ]"
    r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
Problems = dict[int, list[tuple[str, str]]]


@dataclass(frozen=True)
class EventTimes:
    """Each cell as an aware datetime and as COPY writes it (None and "" where it is not one)."""

    moments: list[datetime | None]
    texts: list[str]


def entity_column(column: pd.Series, name: str, problems: Problems) -> list[str]:
    """Each cell as an entity id ("" where it is not one; the row gets the reason)."""
    values: list[object] = column.tolist()
    result = [""] * len(values)
    screened = _text_cells(column)
    if screened.any():
        lengths = column.str.len().to_numpy(dtype=np.int64, na_value=0)
        screened &= (lengths > 0) & (lengths <= ENTITY_ID_MAX_LENGTH)
        screened &= ~column.str.strip(JAVA_WHITESPACE).isin(MISSING_TOKENS).to_numpy(dtype=bool)
        screened &= ~column.str.contains("\x00", regex=False).to_numpy(dtype=bool, na_value=True)
    texts = cast(list[str], values)  # where screened
    for position in np.flatnonzero(screened).tolist():
        result[position] = texts[position]
    for position in np.flatnonzero(~screened).tolist():
        value, text, reason = values[position], "", ""
        if is_missing(value):
            reason = "missing entity id"
        else:
            try:
                text = entity_text(value)
            except CellError as exc:
                reason = str(exc)
            else:
                reason = entity_reason(text)
        if reason:
            problems[position].append((name, reason))
        result[position] = text
    return result


def event_time_column(
    column: pd.Series, name: str, assume_timezone: tzinfo | None, problems: Problems
) -> EventTimes:
    """Each cell as an aware datetime (the row of one that is not gets the reason)."""
    values: list[object] = column.tolist()
    times = EventTimes([None] * len(values), [""] * len(values))
    screened = _text_cells(column)
    if screened.any():
        screened &= column.str.fullmatch(ISO_INSTANT).to_numpy(dtype=bool, na_value=False)
    texts = cast(list[str], values)  # where screened
    fast = np.flatnonzero(screened).tolist()
    try:
        parsed = [datetime.fromisoformat(texts[position]) for position in fast]
    except ValueError:  # a day its month does not have: every cell one by one, with its reason
        screened[:] = False
        fast, parsed = [], []
    for position, moment in zip(fast, parsed, strict=True):
        times.moments[position], times.texts[position] = moment, texts[position]
    for position in np.flatnonzero(~screened).tolist():
        value = values[position]
        if is_missing(value):
            problems[position].append((name, "missing timestamp"))
            continue
        try:
            moment = parse_timestamp(value, assume_timezone)
        except CellError as exc:
            problems[position].append((name, str(exc)))
        else:
            times.moments[position], times.texts[position] = moment, moment.isoformat()
    return times


def _text_cells(column: pd.Series) -> npt.NDArray[np.bool_]:
    """Where the column holds text (pandas' string dtype, as CSV sources have), else nowhere."""
    if isinstance(column.dtype, pd.StringDtype):
        return column.notna().to_numpy(dtype=bool, copy=True)
    return np.zeros(len(column), dtype=bool)

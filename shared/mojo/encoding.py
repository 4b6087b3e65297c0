"""Input values to the rows genmodel scores, read the way PredictCsv / EasyPredictModelWrapper do.

Numeric columns: numbers, or text that `Double.parseDouble` reads (shared.input_values). Categorical
columns: the level's index in the model's domain; a level never seen in training becomes missing.
Missing everywhere: None, NaN, an absent column or key, and the PredictCsv tokens "", "NA", "N/A"
and "-".

This module reads plain Python values (no pandas: serving scores 1-256 rows at a time, where a
frame costs more than the scoring, and the process need not import pandas at all). Frames are
encoded by `frame_encoding`, which reuses these readers for everything but large text columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.input_values import MISSING_TOKENS, is_missing_text, number_from_text
from shared.mojo.errors import MojoInputError
from shared.mojo.scorer import FloatArray

if TYPE_CHECKING:
    import pandas as pd

_NAN = float("nan")
_PLAIN_NUMBERS = frozenset({float, int, type(None)})  # bool is refused, so not among them


@dataclass(frozen=True)
class RowEncoder:
    """Encodes inputs for one model: column order and level lookups are built once, at load."""

    names: tuple[str, ...]
    domains: tuple[tuple[str, ...] | None, ...]
    levels: tuple[dict[str, float] | None, ...]
    unseen: float = _NAN  # what a level outside the domain reads as (missing unless told)
    # When set, every encoded row gets this column's value appended (the scorer's offset).
    offset: str | None = None

    @classmethod
    def for_columns(
        cls,
        names: list[str],
        domains: list[list[str] | None],
        unseen: float = _NAN,
        offset: str | None = None,
    ) -> RowEncoder:
        """An encoder for columns `names` whose categorical levels are `domains` (None: numeric)."""
        lookups = tuple(None if domain is None else _lookup(domain) for domain in domains)
        frozen = tuple(None if domain is None else tuple(domain) for domain in domains)
        return cls(tuple(names), frozen, lookups, unseen, offset)

    def encode(self, frame: pd.DataFrame) -> FloatArray:
        """One float64 row per frame row, one column per model feature (NaN = missing)."""
        # Imported here so that scoring plain rows never loads pandas or pyarrow.
        from shared.mojo.frame_encoding import encode_frame

        return encode_frame(self, frame)

    def encode_rows(self, rows: Sequence[Mapping[str, object]]) -> FloatArray:
        """Like `encode`, for rows given as mappings (keys by column name, extra keys ignored)."""
        wanted = self.names if self.offset is None else (*self.names, self.offset)
        columns = {name: [row.get(name) for row in rows] for name in wanted}
        return self.encode_columns(columns, len(rows))

    def encode_columns(
        self, columns: Mapping[str, Sequence[object] | FloatArray], count: int
    ) -> FloatArray:
        """Like `encode_rows`, for `count` rows given column by column (an absent one: missing)."""
        encoded = np.full((count, len(self.names) + (self.offset is not None)), np.nan)
        for index, (name, lookup) in enumerate(zip(self.names, self.levels, strict=True)):
            values = columns.get(name)
            if values is not None:
                encoded[:, index] = (
                    parse_numbers(values, name)
                    if lookup is None
                    else look_up_levels(values, lookup, self.unseen)
                )
        if self.offset is not None:
            offsets = columns.get(self.offset, [None] * count)
            encoded[:, -1] = require_offsets(parse_numbers(offsets, self.offset), self.offset)
        return encoded


def _lookup(domain: list[str]) -> dict[str, float]:
    lookup = {level: float(i) for i, level in enumerate(domain)}
    # PredictCsv drops missing tokens before looking a level up, so they never match; "" is what
    # None and NaN read as.
    lookup.update(dict.fromkeys(MISSING_TOKENS, _NAN))
    return lookup


def parse_numbers(values: Sequence[Any] | FloatArray, name: str) -> FloatArray:
    """Numeric column values (numbers, numeric text, missing tokens) as float64; NaN = missing."""
    if isinstance(values, np.ndarray):  # float64 already: a batch column of floats and nulls
        return values
    if set(map(type, values)) <= _PLAIN_NUMBERS:
        # A JSON batch: numpy reads None as NaN and an int as float() does, in one C loop.
        plain: FloatArray = np.array(values, dtype=np.float64)
        return plain
    out = np.empty(len(values))
    for position, value in enumerate(values):
        number = _number(value)
        if number is None:
            raise MojoInputError(f"column '{name}' is numeric but row {position} holds {value!r}")
        out[position] = number
    return out


def _number(value: object) -> float | None:
    if value is None:
        return _NAN
    if isinstance(value, str):
        return _NAN if is_missing_text(value) else number_from_text(value)
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return None


def require_offsets(values: FloatArray, name: str) -> FloatArray:
    """The offset column's parsed values; a missing one fails, as PredictCsv does."""
    # PredictCsv reads the offset with Double.parseDouble, which throws on a blank or absent cell.
    missing = np.flatnonzero(np.isnan(values))
    if missing.size:
        raise MojoInputError(f"offset column '{name}' has no value in row {int(missing[0])}")
    return values


def look_up_levels(
    values: Sequence[Any] | FloatArray, lookup: dict[str, float], unseen: float = _NAN
) -> FloatArray:
    """Categorical values as level indices; missing values are NaN, unseen levels `unseen`."""
    if isinstance(values, np.ndarray):  # as Python floats: a numpy scalar's repr is no level
        values = values.tolist()
    # PredictCsv converts unknown levels to NA: without categorical encoding they score like
    # missing values.
    get = lookup.get
    return np.fromiter(
        (get(v if isinstance(v, str) else _level_text(v), unseen) for v in values),
        dtype=np.float64,
        count=len(values),
    )


def _level_text(value: object) -> str:
    # Levels of a numeric column made categorical in H2O read "1"; an input holding 1 or 1.0 must
    # find that level.
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)

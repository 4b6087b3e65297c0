"""Input values to the rows genmodel scores, read the way PredictCsv / EasyPredictModelWrapper do.

Numeric columns: numbers, or text that parses as one. Categorical columns: the level's index in the
model's domain; a level never seen in training becomes missing. Missing everywhere: None, NaN, a
column absent from the frame, and the PredictCsv tokens "", "NA", "N/A" and "-".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.mojo.errors import MojoInputError
from shared.mojo.scorer import FloatArray

MISSING_TOKENS = ("", "NA", "N/A", "-")


def encode_frame(
    frame: pd.DataFrame, names: list[str], domains: list[list[str] | None]
) -> FloatArray:
    """One float64 row per frame row, one column per model feature (NaN = missing)."""
    rows = np.full((len(frame), len(names)), np.nan)
    for index, (name, domain) in enumerate(zip(names, domains, strict=True)):
        if name not in frame.columns:
            continue
        column = frame[name]
        if domain is None:
            rows[:, index] = _numeric(column, name)
        else:
            rows[:, index] = _levels(column, domain)
    return rows


def _numeric(column: pd.Series, name: str) -> FloatArray:
    if pd.api.types.is_bool_dtype(column):
        raise MojoInputError(f"column '{name}' is numeric but holds booleans")
    if pd.api.types.is_numeric_dtype(column):
        values: FloatArray = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return values
    objects = column.astype(object)
    missing = objects.isna() | objects.isin(MISSING_TOKENS)
    parsed = pd.to_numeric(objects.where(~missing, np.nan), errors="coerce")
    bad = parsed.isna() & ~missing
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise MojoInputError(
            f"column '{name}' is numeric but row {position} holds {objects.iloc[position]!r}"
        )
    result: FloatArray = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    return result


def _levels(column: pd.Series, domain: list[str]) -> FloatArray:
    text = _as_level_text(column)
    codes = pd.Index(domain).get_indexer(pd.Index(text.to_numpy(dtype=object)))
    result = codes.astype(np.float64)
    # Unseen levels and missing values both score as NA (PredictCsv converts unknown levels to NA).
    result[(codes < 0) | text.isna().to_numpy() | text.isin(MISSING_TOKENS).to_numpy()] = np.nan
    return result


def _as_level_text(column: pd.Series) -> pd.Series:
    # Levels of a numeric column turned categorical in H2O are written like "1"; a frame read
    # with numeric dtypes holds 1 or 1.0, which must find that level.
    if pd.api.types.is_integer_dtype(column):
        return column.astype("Int64").astype(str).where(column.notna(), None)
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        text = [
            None if np.isnan(v) else (str(int(v)) if float(v).is_integer() else repr(float(v)))
            for v in values
        ]
        return pd.Series(text, index=column.index, dtype=object)
    return (
        column.astype(object)
        .where(column.notna(), None)
        .map(lambda v: v if v is None or isinstance(v, str) else str(v))
    )

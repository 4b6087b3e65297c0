"""Read CSV and Parquet files in batches of rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from shared.feature_store.csv_batches import csv_batches

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class SourceBatches:
    """A file's rows in batches; `from_text` when every cell is text to be typed (CSV)."""

    batches: Iterator[pd.DataFrame]
    from_text: bool


def read_batches(path: Path, batch_size: int) -> SourceBatches:
    """The rows of a CSV or Parquet file, `batch_size` rows at a time."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        # Every cell stays text and blanks stay blank: typing is ours, not the reader's guess.
        return SourceBatches(csv_batches(path, batch_size), from_text=True)
    if name.endswith(PARQUET_SUFFIXES):
        return SourceBatches(_parquet_batches(path, batch_size), from_text=False)
    raise ValueError(
        f"unsupported file type {path.name!r}: expected one of {CSV_SUFFIXES + PARQUET_SUFFIXES}"
    )


def _parquet_batches(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=batch_size):
        yield batch.to_pandas()

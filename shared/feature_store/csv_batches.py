"""A CSV file's rows in batches of text cells, read by pyarrow the way pandas reads them.

The rules are `pandas.read_csv(dtype=str, keep_default_na=False)`'s: every cell is its text as
written, blanks stay blank, no NA tokens. pyarrow's streaming reader reads a well-formed file the
same way (quoting, quoted line breaks, BOM, line endings, blank lines, NUL characters) for about a
quarter of the CPU, without holding the GIL. Where it would read otherwise, pandas reads: a header
that pandas renames (blank or repeated names become "Unnamed: 1", "a.1"), a file pyarrow cannot
open, and, from the first batch on that pyarrow cannot read (a row with too few or too many fields,
a line of spaces, text that is not UTF-8), the rest of the file: pandas reads it again from the
start and skips the batches already given, so rows and errors are those of a pandas-only read.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

# What pandas' reader makes of a text column (pandas' default `str` dtype).
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
_PARSE = pacsv.ParseOptions(newlines_in_values=True)
_BLOCK_BYTES = 1 << 22
_PROBE_BYTES = 1 << 20
# Files pyarrow reads (it decompresses by the name's ending); pandas reads the other CSV files.
ARROW_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst")


def csv_batches(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    """The file's rows, `batch_size` at a time (one empty batch when it has a header only)."""
    if not path.name.lower().endswith(ARROW_SUFFIXES):
        return _pandas_batches(path, batch_size)
    try:
        # The header only: a small first block (the reader parses one block on opening).
        probe_options = pacsv.ReadOptions(block_size=_PROBE_BYTES)
        with pacsv.open_csv(path, read_options=probe_options, parse_options=_PARSE) as probe:
            names = list(probe.schema.names)
        if "" in names or len(set(names)) < len(names):
            return _pandas_batches(path, batch_size)
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES),
            parse_options=_PARSE,
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
    except pa.ArrowInvalid:
        return _pandas_batches(path, batch_size)
    return _arrow_batches(path, reader, batch_size)


def _pandas_batches(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    return iter(pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=batch_size))


def _arrow_batches(
    path: Path, reader: pacsv.CSVStreamingReader, batch_size: int
) -> Iterator[pd.DataFrame]:
    given = 0
    pending: list[pa.RecordBatch] = []
    held = 0
    with reader:
        while True:
            try:
                block = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid:
                # Rows of the batch being gathered are read again by pandas with the rest.
                yield from islice(_pandas_batches(path, batch_size), given // batch_size, None)
                return
            pending.append(block)
            held += block.num_rows
            while held >= batch_size:
                rows = pa.Table.from_batches(pending, reader.schema)
                yield _frame(rows.slice(0, batch_size), given)
                given += batch_size
                pending = rows.slice(batch_size).to_batches()
                held -= batch_size
        if held or not given:
            yield _frame(pa.Table.from_batches(pending, reader.schema), given)


def _frame(rows: pa.Table, first: int) -> pd.DataFrame:
    """The rows as pandas' reader gives them: text columns, numbered on from `first`."""
    frame: pd.DataFrame = rows.to_pandas(types_mapper={pa.string(): _TEXT}.get)
    frame.index = pd.RangeIndex(first, first + len(frame))
    return frame

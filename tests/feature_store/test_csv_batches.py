"""The CSV reader gives the batches (or the error) pandas' reader gives, odd files included."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from shared.feature_store.csv_batches import csv_batches

ROWS = b"1,2,3\n" * 5
FILES = {
    "plain": b"a,b,c\n" + ROWS,
    "quoting": b'a,b,c\n"x,y","q""q",z\nab"c,"ab"c,""\n',
    "line break in a quoted cell": b'a,b,c\n"x\ny",2,3\n"x\r\ny",2,3\n',
    "NUL": b"a,b,c\nx\x00y,2,3\n",
    "BOM and CRLF": b"\xef\xbb\xbfa,b,c\r\n1,2,3\r\n4,5,6",
    "CR line ends": b"a,b,c\r1,2,3\r4,5,6\r",
    "spaces, tabs, blank cells": b"a,b,c\n 1 , 2,3 \n\t1,,\n,,\n",
    "blank lines": b"a,b,c\n\n1,2,3\n\n",
    "non-ASCII": "a,b,c\nä,€,𝄞\n".encode(),
    "header only": b"a,b,c\n",
    "empty": b"",
    "blank header name": b"a,,c\n1,2,3\n",
    "repeated header name": b"a,b,a\n1,2,3\n",
    "short row": b"a,b,c\n" + ROWS + b"9,9\n" + ROWS,
    "long first row": b"a,b,c\n1,2,3,4\n" + ROWS,
    "long row": b"a,b,c\n" + ROWS + b"9,9,9,9\n" + ROWS,
    "line of spaces": b"a,b,c\n" + ROWS + b"   \n" + ROWS,
    "not UTF-8": b"a,b,c\n" + ROWS + b"\xff,9,9\n" + ROWS,
    "unterminated quote": b"a,b,c\n" + ROWS + b'"abc,2,3\n',
}
COMPRESSIONS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


def _read(batches: Callable[[], Iterator[pd.DataFrame]]) -> list[object] | str:
    try:
        return [
            (list(frame.columns), frame.to_numpy().tolist(), list(frame.dtypes), list(frame.index))
            for frame in batches()
        ]
    except Exception as exc:  # the error is part of what is compared
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("name", FILES)
def test_batches_and_errors_are_pandas_ones(tmp_path: Path, name: str, compression: str) -> None:
    path = tmp_path / f"source.csv{compression}"
    path.write_bytes(COMPRESSIONS[compression](FILES[name]))

    expected = _read(lambda: iter(pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=2)))
    assert _read(lambda: csv_batches(path, 2)) == expected


def test_batches_are_the_size_asked_across_reader_blocks(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    # About 10 MiB: several of the reader's blocks.
    path.write_bytes(b"a,b\n" + b"".join(b"e%08d,%d\n" % (row, row) for row in range(600_001)))

    sizes = [len(frame) for frame in csv_batches(path, 100_000)]

    assert sizes == [100_000] * 6 + [1]


@pytest.mark.parametrize("odd_line", [b"9\n", b"9,9,9\n", b"  \n", b"\xff,9\n"])
def test_a_row_pyarrow_cannot_read_after_whole_batches_is_read_by_pandas(
    tmp_path: Path, odd_line: bytes
) -> None:
    path = tmp_path / "odd.csv"
    lines = [b"e%08d,%d\n" % (row, row) for row in range(300_000)]
    # In the reader's second block (the first is 4 MiB): batches were given before pyarrow fails.
    lines[280_000] = odd_line
    path.write_bytes(b"a,b\n" + b"".join(lines))

    expected = _read(
        lambda: iter(pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=50_000))
    )
    assert _read(lambda: csv_batches(path, 50_000)) == expected

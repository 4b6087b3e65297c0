"""The entity and event-time screens agree with the per-cell rules, and PostgreSQL with Python.

A text column (pandas' string dtype, as CSV sources give) is screened column-wise; the same cells
as an object column go one by one through the per-cell rules: both must give the same values and
the same reasons. A screened event time is written to COPY as its source text, so PostgreSQL must
read it as the instant Python read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pandas as pd
import psycopg

from shared.feature_store import ingest_file
from shared.feature_store.key_columns import Problems, entity_column, event_time_column

T = TypeVar("T")

ENTITIES = [
    "a",
    "",
    " ",
    "NA",
    "N/A",
    "-",
    " NA ",
    "x" * 512,
    "x" * 513,
    "nul\x00",
    "tab\tx",
    "é😀",
]
EVENT_TIMES = [
    "2024-01-01T00:00:00Z",
    "2024-01-01 00:00:00+05:30",
    "2024-02-29T23:59:59.5-08:00",
    "2024-06-30T12:00:00.123456+00:00",
    "1000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "0999-01-01T00:00:00Z",  # before 1000: rendered from the datetime
    " 2024-01-01T00:00:00Z ",  # surrounding space: the per-cell rule strips it
    "2024-01-01T00:00:00",  # naive
    "2024-01-01",
    "2024-01-01T00:00:00+01:00:30",
    "2024-13-01T00:00:00Z",
    "NA",
    "",
    "yesterday",
]
BAD_DAY = "2023-02-29T00:00:00Z"  # passes the screen's pattern; 2023 has no 29 February


def _both(read: Callable[[pd.Series, Problems], T], cells: list[str]) -> list[tuple[T, Problems]]:
    """`read` of the cells as a text column (screened) and as an object column (per cell)."""
    results = []
    for column in (pd.Series(cells, dtype="str"), pd.Series(cells, dtype=object)):
        problems: Problems = defaultdict(list)
        results.append((read(column, problems), dict(problems)))
    return results


def test_the_entity_screen_gives_the_per_cell_verdicts() -> None:
    screened, per_cell = _both(lambda c, p: entity_column(c, "id", p), ENTITIES)
    assert screened == per_cell
    assert set(per_cell[1]) == {1, 2, 3, 4, 5, 6, 8, 9}


def test_the_event_time_screen_gives_the_per_cell_verdicts() -> None:
    for cells in (EVENT_TIMES, [*EVENT_TIMES, BAD_DAY]):
        screened, per_cell = _both(lambda c, p: event_time_column(c, "ts", None, p), cells)
        assert screened[0].moments == per_cell[0].moments
        assert screened[1] == per_cell[1]
    assert per_cell[1][len(EVENT_TIMES)] == [
        ("ts", f"unparseable timestamp {BAD_DAY!r} (expected ISO 8601)")
    ]
    (times, _), _ = _both(lambda c, p: event_time_column(c, "ts", None, p), EVENT_TIMES)
    assert times.texts[:6] == EVENT_TIMES[:6]


def test_postgresql_reads_screened_event_times_as_python_does(
    conn: psycopg.Connection, write_csv: Callable[[str, str], Path]
) -> None:
    good = EVENT_TIMES[:6]
    rows = [f"e{n},{moment},{n}" for n, moment in enumerate(good)]
    path = write_csv("times.csv", "\n".join(["id,ts,x", *rows, f"bad,{BAD_DAY},9"]))
    summary = ingest_file(conn, path, "id", "ts")
    assert (summary.rows_written, summary.rows_quarantined) == (len(good), 1)
    [rejection] = summary.rejected_samples
    assert (rejection.entity_id, rejection.field) == ("bad", "ts")
    assert rejection.reason == f"unparseable timestamp {BAD_DAY!r} (expected ISO 8601)"
    stored: dict[str, datetime] = dict(
        conn.execute("SELECT entity_id, event_timestamp FROM feature_store").fetchall()
    )
    expected = {f"e{n}": datetime.fromisoformat(moment) for n, moment in enumerate(good)}
    assert stored == expected

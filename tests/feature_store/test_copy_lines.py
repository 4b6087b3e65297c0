"""Column-wise COPY text is byte for byte the per-row rendering, and PostgreSQL stores the same.

The reference is what ingest wrote before rendering went column-wise: per row, the document of
its present cells through `orjson.dumps`, its backslashes doubled, and the entity id with COPY's
escapes. Floats are where the stored value could drift (jsonb keeps a number's scale: 1.0 is
not 1), so their edge cases are stored both ways and compared as PostgreSQL prints them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import orjson
import pandas as pd
import psycopg

from shared.feature_store import ingest_frame
from shared.feature_store.copy_lines import copy_lines, jsonb_key_order, stamped
from shared.feature_store.values import PlainValue

_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
FLOATS = [
    0.0, -0.0, 1.0, -2.0, 100.0, 0.1, 0.3, 1e-4, 1e-5, 2.5e-7, 123456789012345.6, 1e15, 1e16,
    9007199254740993.0, 1e22, 1e300, 5e-324, 1.7976931348623157e308,
]  # fmt: skip
TEXTS = ["", "a,b", 'q"u,o"te', "back\\slash", "tab\tnew\nline\r", "é😀,", "\x01\x1f", ",", "x"]
STAMP = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def _per_row(
    entities: list[str], moments: list[datetime], cells: dict[str, list[PlainValue | None]]
) -> bytes:
    lines = []
    for row, (entity, moment) in enumerate(zip(entities, moments, strict=True)):
        document = {
            key: cells[key][row]
            for key in sorted(cells, key=jsonb_key_order)
            if cells[key][row] is not None
        }
        fields = (
            entity.translate(_ESCAPES),
            moment.isoformat(),
            orjson.dumps(document).decode().replace("\\", "\\\\"),
            STAMP.isoformat(),
        )
        lines.append("\t".join(fields) + "\n")
    return "".join(lines).encode()


def _column_wise(
    entities: list[str], moments: list[datetime], cells: dict[str, list[PlainValue | None]]
) -> bytes:
    present = {
        key: np.array([value is not None for value in column]) for key, column in cells.items()
    }
    event_times = [moment.isoformat() for moment in moments]
    return bytes(stamped(copy_lines(entities, event_times, cells, present), STAMP))


def test_column_wise_lines_are_the_per_row_lines_byte_for_byte() -> None:
    rng = np.random.default_rng(3)
    rows = 600
    random_floats = (rng.standard_normal(rows) * 10.0 ** rng.integers(-30, 30, rows)).tolist()

    def holes(values: list[PlainValue], share: float) -> list[PlainValue | None]:
        return [None if rng.random() < share else value for value in values]

    cells: dict[str, list[PlainValue | None]] = {
        "f": holes(FLOATS + random_floats[len(FLOATS) :], 0.2),
        "i": holes([int(v) for v in rng.integers(-(2**63), 2**63 - 1, rows)], 0.2),
        "b": holes([bool(v) for v in rng.integers(0, 2, rows)], 0.2),
        # Text holding commas cannot be split from one dump: it takes the per-cell path.
        "s": holes([TEXTS[row % len(TEXTS)] for row in range(rows)], 0.2),
        'k,"\\é': holes([float(row) for row in range(rows)], 0.9),
        "never": [None] * rows,
    }
    entities = [f"e{row}" + ["", "\t", "\\", "\n\r", "é"][row % 5] for row in range(rows)]
    plus_two = timezone(timedelta(hours=2))
    moments = [
        datetime(2024, 1, 1, tzinfo=(UTC, plus_two)[row % 2]) + timedelta(microseconds=row * 7)
        for row in range(rows)
    ]
    assert _column_wise(entities, moments, cells) == _per_row(entities, moments, cells)
    # A batch without feature columns, and one whose only column is all missing.
    for subset in ({}, {"never": cells["never"]}):
        assert _column_wise(entities, moments, subset) == _per_row(entities, moments, subset)


def test_stored_documents_are_those_of_the_per_row_rendering(conn: psycopg.Connection) -> None:
    entities = [f"e{row}" for row in range(len(FLOATS))]
    frame = pd.DataFrame(
        {"id": entities, "ts": [STAMP] * len(FLOATS), "x": FLOATS, "n": range(len(FLOATS))}
    )
    summary = ingest_frame(conn, frame, "id", "ts", source="floats")
    assert summary.rows_written == len(FLOATS)
    stored: dict[str, str] = dict(
        conn.execute("SELECT entity_id, dynamic_features::text FROM feature_store").fetchall()
    )
    for row, (entity, value) in enumerate(zip(entities, FLOATS, strict=True)):
        per_row = orjson.dumps({"x": value, "n": row}).decode()
        expected = conn.execute("SELECT %s::jsonb::text", (per_row,)).fetchone()
        assert expected is not None
        assert stored[entity] == expected[0], (value, stored[entity])


def test_documents_are_written_in_the_key_order_jsonb_keeps(conn: psycopg.Connection) -> None:
    """PostgreSQL itself is the reference for the order: shorter keys first, then bytewise."""
    keys = ["zz", "a", "é", "b", "aa", "Z", "ab", "e", "longer_key", "😀", "f00", "~"]
    cells: dict[str, list[PlainValue | None]] = {key: [1] for key in keys}
    present = {key: np.array([True]) for key in keys}
    line = copy_lines(["e"], [STAMP.isoformat()], cells, present)[0].as_py()
    written = list(orjson.loads(line.split("\t")[2]))
    document = orjson.dumps(dict.fromkeys(keys, 1)).decode()
    row = conn.execute("SELECT %s::jsonb::text", (document,)).fetchone()
    assert row is not None
    assert written == list(orjson.loads(row[0]))

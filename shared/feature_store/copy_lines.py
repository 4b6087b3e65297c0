"""COPY text of a batch's valid rows, rendered column by column with pyarrow.

A row's `dynamic_features` document is the join of its present cells, each cell written as
`orjson.dumps` writes it: one call renders a whole column, so the documents are byte for byte the
ones a per-row `orjson.dumps(document)` gives, without building a dict per row. Members come in
jsonb's key order (`jsonb_key_order`), the order jsonb stores whatever the order written, so
PostgreSQL finds them sorted instead of sorting each document's keys (~2 % of its CPU at 20
keys). The lines are rendered ahead (on the read-ahead thread) without their ingestion time,
which the writer appends once it holds the ingest lock; pyarrow's kernels run without the GIL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shared.feature_store.values import PlainValue

TEXT = pa.large_string()
# COPY's text format: these characters of a field are written as backslash escapes (the
# backslash first, so the escapes added after it are not escaped again).
_COPY_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def copy_lines(
    entity_ids: Sequence[str],
    event_times: Sequence[str],
    cells: Mapping[str, list[PlainValue | None]],
    present: Mapping[str, npt.NDArray[np.bool_]],
) -> pa.LargeStringArray:
    """Each row as COPY text up to its ingestion time: `entity TAB event time TAB {document} TAB`.

    `event_times`: each row's event time as COPY text (ISO 8601 with its offset); `cells`: each
    key's value in every row (None where missing), `present`: where it is not.
    """
    entities = pa.array(entity_ids, TEXT)
    for character, escape in _COPY_ESCAPES:
        entities = pc.replace_substring(entities, character, escape)
    lines: pa.LargeStringArray = pc.binary_join_element_wise(
        entities,
        _text("\t"),
        pa.array(event_times, TEXT),
        _text("\t{"),
        # JSON escapes every control character, so the backslash is all COPY must escape.
        pc.replace_substring(_documents(cells, present, len(entity_ids)), "\\", "\\\\"),
        _text("}\t"),
        _text(""),
    )
    return lines


def stamped(lines: pa.LargeStringArray, ingested_at: datetime) -> memoryview:
    """The lines completed with their ingestion time: one buffer of COPY text."""
    text = pc.binary_join_element_wise(lines, _text(f"{ingested_at.isoformat()}\n"), _text(""))
    _, offsets, data = text.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[[text.offset, text.offset + len(text)]]
    return memoryview(data)[int(bounds[0]) : int(bounds[1])]


def _documents(
    cells: Mapping[str, list[PlainValue | None]],
    present: Mapping[str, npt.NDArray[np.bool_]],
    rows: int,
) -> pa.LargeStringArray:
    """Each row's present cells as the members of a JSON object, without its braces."""
    members = [
        # `,"key":value`, null where the cell is missing.
        pc.binary_join_element_wise(
            _text(f",{orjson.dumps(key).decode()}:"),
            json_cells(cells[key], present[key]),
            _text(""),
        )
        for key in sorted(cells, key=jsonb_key_order)
    ]
    if not members:
        return pa.array([""] * rows, TEXT)
    joined = pc.binary_join_element_wise(
        *members, _text(""), null_handling="replace", null_replacement=""
    )
    # Every member starts with a comma: the first one's goes.
    documents: pa.LargeStringArray = pc.utf8_slice_codeunits(joined, 1)
    return documents


def jsonb_key_order(key: str) -> tuple[int, bytes]:
    """Where jsonb puts `key` among an object's keys: shorter first, then byte by byte."""
    encoded = key.encode()
    return len(encoded), encoded


def json_cells(
    values: list[PlainValue | None], present: npt.NDArray[np.bool_]
) -> pa.LargeStringArray:
    """Each cell's JSON as `orjson.dumps` writes it; null where the cell is not present."""
    parts = orjson.dumps(values)[1:-1].split(b",")
    # Each cell gives at least one part, exactly one unless its JSON holds a comma (text only).
    if len(parts) != len(values):
        parts = [orjson.dumps(value) for value in values]
    cells: pa.LargeStringArray = pa.array(parts, TEXT, mask=~present)
    return cells


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, TEXT)

"""Column-wise ingest holds the shared contract: the same verdicts as `FeatureRecord`, row by row.

The contract (`shared.schemas`) is the one definition of a valid record; ingest screens whole
columns and asks the contract only about cells a screen cannot vouch for. These tests hold the
screens to the contract, write what COPY's text format must escape, and make the read-ahead
validation meet definitions that changed under it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import psycopg
import pytest
from pydantic import TypeAdapter, ValidationError

from shared.feature_store import ingest_frame
from shared.feature_store.contract import entity_reason, value_reason
from shared.feature_store.ingest import ingest_batches
from shared.feature_store.validation import SourceLayout, validate_batch
from shared.feature_store.values import is_missing
from shared.schemas import INT64_MAX, INT64_MIN, EntityId, FeatureRecord, FeatureValue

MOMENT = datetime(2024, 1, 1, tzinfo=UTC)
VALUES: list[Any] = [
    0, -1, 1.5, -0.0, 1e308, 5e-324, INT64_MAX, INT64_MIN, INT64_MAX + 1, INT64_MIN - 1, 2**80,
    math.inf, -math.inf, math.nan, True, False, None, "", "text", "x\x00y", "\x00", "é😀",
    "tab\there", "back\\slash", 'quote"d', "new\nline", b"bytes", [1], {"a": 1},
]  # fmt: skip
ENTITIES = ["a", "", "x" * 512, "x" * 513, "nul\x00", "tab\tnew\nline\\", "é😀"]


def _accepts(adapter: TypeAdapter[Any], value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_value_screen_agrees_with_the_contract(value: object) -> None:
    assert (value_reason(value) == "") == _accepts(TypeAdapter(FeatureValue), value)


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: repr(e[:20]))
def test_the_entity_screen_agrees_with_the_contract(entity: str) -> None:
    assert (entity_reason(entity) == "") == _accepts(TypeAdapter(EntityId), entity)


def test_a_batch_accepts_exactly_the_rows_feature_record_accepts() -> None:
    scalars = [v for v in VALUES if v is None or isinstance(v, int | float | str)]
    frame = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(len(scalars))] + ["x" * 513, "ok"],
            "ts": [MOMENT] * (len(scalars) + 2),
            # one column per type, so each cell meets the type it is validated against
            "n": [v if isinstance(v, int | float) and not isinstance(v, bool) else None
                  for v in scalars] + [1, 2],
            "s": [v if isinstance(v, str) else None for v in scalars] + ["a", "b"],
        }
    )  # fmt: skip
    layout = SourceLayout("id", "ts", from_text=False)
    batch = validate_batch(frame, 1, layout, {"n": "number", "s": "string"})

    def reference(row: pd.Series) -> bool:
        # The missing-cell rule (PredictCsv's tokens, Java's trim) comes first, as in ingest.
        features = {k: None if is_missing(row[k]) else row[k] for k in ("n", "s")}
        try:
            FeatureRecord(entity_id=row["id"], event_timestamp=MOMENT, dynamic_features=features)
        except ValidationError:
            return False
        return True

    expected = [row["id"] for _, row in frame.iterrows() if reference(row)]
    assert batch.rows.entity_ids == expected
    assert batch.rows_rejected == len(frame) - len(expected)
    assert all(rejection.reason for rejection in batch.rejections)


def test_copy_escapes_round_trip(conn: psycopg.Connection) -> None:
    tricky = ["tab\tnew\nline\\", "cr\rend", "é😀", 'quote"d']
    frame = pd.DataFrame({"id": tricky, "ts": [MOMENT] * 4, "s": tricky, "n": [1, 2.5, -0.0, 7]})
    summary = ingest_frame(conn, frame, "id", "ts", source="escapes")
    assert summary.rows_written == 4
    stored = dict(conn.execute("SELECT entity_id, dynamic_features FROM feature_store").fetchall())
    assert stored == {e: {"s": e, "n": n} for e, n in zip(tricky, [1, 2.5, -0.0, 7], strict=True)}


def test_a_duplicate_inside_one_batch_keeps_the_first_row(conn: psycopg.Connection) -> None:
    frame = pd.DataFrame({"id": ["a", "a", "b"], "ts": [MOMENT] * 3, "x": [1, 2, 3]})
    summary = ingest_frame(conn, frame, "id", "ts", source="dup")
    assert (summary.rows_written, summary.rows_duplicate) == (2, 1)
    stored = dict(conn.execute("SELECT entity_id, dynamic_features FROM feature_store").fetchall())
    assert stored == {"a": {"x": 1}, "b": {"x": 3}}


def test_definitions_changed_by_another_ingest_between_batches_are_respected(
    conn: psycopg.Connection, database_url: str
) -> None:
    """The next batch is validated ahead with predicted types; the writer checks them."""

    def batches() -> Iterator[pd.DataFrame]:
        yield pd.DataFrame({"id": ["a"], "ts": [MOMENT], "y": [1]})
        # Asked for while the first batch is written: another loader defines `x` as a string.
        with psycopg.connect(database_url, autocommit=True) as other:
            other_frame = pd.DataFrame({"id": ["o"], "ts": [MOMENT], "x": ["text"]})
            ingest_frame(other, other_frame, "id", "ts", source="other")
        yield pd.DataFrame({"id": ["b"], "ts": [MOMENT], "x": [5]})

    layout = SourceLayout("id", "ts", from_text=False)
    summary = ingest_batches(conn, batches(), layout, "ahead")

    assert (summary.rows_written, summary.rows_quarantined) == (1, 1)
    assert summary.rejected_samples[0].reason == "expected a string, got number '5'"
    types = dict(conn.execute("SELECT feature_key, value_type FROM feature_definitions"))
    assert types == {"x": "string", "y": "number"}

"""`feature_rows` (the batch routes' fast check) accepts and refuses what the schema does.

And the columns it hands out when every row has the same keys (in any order) hold the rows'
values: floats and nulls as float64 (null: NaN), anything else as the values themselves.
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from shared.schemas import BatchPredictionRequest, FeatureRowsError, feature_rows

DOCUMENTS: list[Any] = [
    {"rows": [{"a": 1, "b": 2.5, "c": "x", "d": True, "e": None}]},
    {"rows": [{"a": 1}, {}]},
    {"rows": []},
    {"rows": [{"a": [1]}]},
    {"rows": [{"a": {"b": 1}}]},
    {"rows": [{"a": 2**63}]},
    {"rows": [{"a": -(2**63)}]},
    {"rows": [{"": 1}]},
    {"rows": [{"k" * 257: 1}]},
    {"rows": [{"a\u0000": 1}]},
    {"rows": [{"a": "x\u0000"}]},
    {"rows": [1]},
    {"rows": {"a": 1}},
    {"rows": [{"a": 1}], "extra": 1},
    {},
    [],
    # Mixed batches, as the C-loop check sees them: valid (floats whose sum overflows), then a
    # bad value after good ones of other types.
    {"rows": [{"a": 1e308, "b": None}, {"a": 1e308, "b": True}]},
    {"rows": [{"a": 1.5, "b": "x"}, {"a": 2**63, "b": None}]},
    {"rows": [{"a": 1.5, "b": 2}, {"c": "ok", "d": "x\u0000"}]},
    {"rows": [{"a": 1.5}, [1]]},
    # Columns: floats and nulls; ints, text and booleans; the same keys in another order; no key.
    {"rows": [{"a": 1.5, "b": None}, {"a": -0.0, "b": 2.5}, {"a": 5e-324, "b": 1e308}]},
    {"rows": [{"a": 1, "b": "x", "c": True}, {"a": 2**62, "b": "", "c": None}]},
    {"rows": [{"a": 1.5, "b": 2.5}, {"b": 2.5, "a": 1.5}]},
    {"rows": [{}, {}]},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_same_verdict_and_field_as_the_schema(document: Any) -> None:
    body = orjson.dumps(document)
    try:
        BatchPredictionRequest.model_validate_json(body)
    except ValidationError as exc:
        with pytest.raises(FeatureRowsError) as refused:
            feature_rows(orjson.loads(body))
        schema_loc = tuple(exc.errors()[0]["loc"])
        # The schema may point one level deeper (a dict key's own error): same field named.
        assert schema_loc[: len(refused.value.loc)] == refused.value.loc or (
            refused.value.loc[:2] == schema_loc[:2]
        ), (schema_loc, refused.value.loc)
    else:
        checked = feature_rows(orjson.loads(body))
        assert checked.rows == document["rows"]
        if checked.columns is not None:
            assert list(checked.columns) == list(document["rows"][0])
            for key, column in checked.columns.items():
                given = [row[key] for row in document["rows"]]
                if isinstance(column, np.ndarray):
                    expected = np.array([np.nan if v is None else v for v in given])
                    np.testing.assert_array_equal(column, expected)
                    assert not any(isinstance(v, bool | int) for v in given)
                else:
                    assert column == given


def test_columns_only_when_every_row_has_the_same_keys() -> None:
    same = feature_rows({"rows": [{"a": 1.5, "b": None}, {"a": 2.5, "b": 1.0}]})
    assert same.columns is not None
    column = same.columns["a"]
    assert isinstance(column, np.ndarray) and column.tolist() == [1.5, 2.5]
    # Another order: each row's value under its key, columns in the first row's order.
    reordered = feature_rows({"rows": [{"a": 1.5, "b": 2.5}, {"b": 3.5, "a": 4.5}]}).columns
    assert reordered is not None and list(reordered) == ["a", "b"]
    assert [np.asarray(reordered[key]).tolist() for key in reordered] == [[1.5, 4.5], [2.5, 3.5]]
    one_key = feature_rows({"rows": [{"a": "x"}, {"a": 2}]}).columns
    assert one_key == {"a": ["x", 2]}
    for rows in ([{"a": 1.5}, {"a": 1.5, "b": 1.0}], [{"a": 1.5, "b": 1.0}, {"a": 1.5, "c": 1.0}]):
        assert feature_rows({"rows": rows}).columns is None


def test_reading_a_table_leaves_the_cyclic_gc_asleep() -> None:
    # 10,000 rows held as tuples at once would run it a dozen times during one request.
    document = orjson.loads(orjson.dumps({"rows": [{"a": 1.5, "b": 2.5}] * 10_000}))
    runs: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        runs.append(phase)

    gc.collect()
    gc.callbacks.append(count)
    try:
        checked = feature_rows(document)
    finally:
        gc.callbacks.remove(count)
    assert checked.columns is not None and runs.count("start") <= 1

"""`feature_rows` (the batch routes' fast check) accepts and refuses what the schema does."""

from __future__ import annotations

from typing import Any

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
        assert feature_rows(orjson.loads(body)) == document["rows"]

"""The shared strict models: what they accept, what they reject, and that errors name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from shared.schemas import FeatureRecord, PredictionRequest, record_errors

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _record(**overrides: Any) -> FeatureRecord:
    fields: dict[str, Any] = {
        "entity_id": "c1",
        "event_timestamp": NOW,
        "dynamic_features": {"age": 3},
    }
    return FeatureRecord(**(fields | overrides))


def _errors(**overrides: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        _record(**overrides)
    return record_errors(caught.value)


def test_record_keeps_each_value_type() -> None:
    features = {"n": 2, "x": 2.5, "s": "2", "b": True, "missing": None}
    record = _record(dynamic_features=features)
    assert record.dynamic_features == features
    assert [type(v) for v in record.dynamic_features.values()] == [
        int,
        float,
        str,
        bool,
        type(None),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "finite number"),
        (float("inf"), "finite number"),
        ([1, 2], "not list"),
        ({"a": 1}, "not dict"),
        (np.int64(3), "not int64"),
        ("a\x00b", "NUL"),
        (2**63, "outside the 64-bit range"),
        (-(2**63) - 1, "outside the 64-bit range"),
    ],
)
def test_record_rejects_bad_feature_values_naming_the_key(value: object, reason: str) -> None:
    [(field, message)] = _errors(dynamic_features={"score": value})
    assert field == "dynamic_features.score"
    assert reason in message


def test_record_rejects_naive_timestamp_and_blank_entity() -> None:
    errors = dict(_errors(entity_id="", event_timestamp=datetime(2024, 5, 1)))
    assert set(errors) == {"entity_id", "event_timestamp"}
    assert "timezone" in errors["event_timestamp"]


def test_record_is_strict_about_strings_for_timestamps_and_ids() -> None:
    fields = dict(_errors(entity_id=7, event_timestamp="2024-05-01T00:00:00Z"))
    assert set(fields) == {"entity_id", "event_timestamp"}


def test_record_rejects_empty_feature_key_and_unknown_fields() -> None:
    assert _errors(dynamic_features={"": 1})[0][0].startswith("dynamic_features")
    assert _errors(label=1)[0][0] == "label"


def test_record_is_frozen() -> None:
    record = _record()
    with pytest.raises(ValidationError):
        record.entity_id = "other"  # type: ignore[misc]


def test_prediction_request_takes_exactly_one_subject() -> None:
    assert PredictionRequest(entity_id="c1").entity_id == "c1"
    assert PredictionRequest(entity_ids=["a", "b"]).entity_ids == ["a", "b"]
    assert PredictionRequest(features={"age": 3, "plan": None}).features == {"age": 3, "plan": None}
    bodies: list[dict[str, Any]] = [{}, {"entity_id": "c1", "features": {"a": 1}}]
    for bad in bodies:
        with pytest.raises(ValidationError) as caught:
            PredictionRequest(**bad)
        [(_, reason)] = record_errors(caught.value)
        assert "exactly one of entity_id, entity_ids, features" in reason


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"entity_ids": []}', "entity_ids"),
        ('{"entity_ids": [' + ",".join(['"e"'] * 1001) + "]}", "entity_ids"),
        ('{"entity_id": 5}', "entity_id"),
        ('{"features": {"age": "NaN", "x": [1]}}', "features.x"),
        ('{"entity_id": "a", "model": 3}', "model"),
    ],
)
def test_prediction_request_json_errors_name_the_field(body: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PredictionRequest.model_validate_json(body)
    assert [name for name, _ in record_errors(caught.value)] == [field]

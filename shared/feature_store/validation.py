"""Turn a batch of source rows into valid `FeatureRecord`s and rejections with their reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import pandas as pd
from pydantic import TypeAdapter, ValidationError

from shared.feature_store.columns import Converted, FeatureColumn, infer_type, read_column
from shared.feature_store.values import (
    CellError,
    PlainValue,
    ValueType,
    entity_text,
    is_missing,
    jsonable,
    parse_timestamp,
    storable_text,
)
from shared.schemas import FeatureKey, FeatureRecord, record_errors

_FEATURE_KEY: TypeAdapter[str] = TypeAdapter(FeatureKey)


@dataclass(frozen=True)
class Rejection:
    """One problem with one source row; a row with several problems has several rejections."""

    source_row: int
    entity_id: str | None
    field: str
    reason: str
    raw_record: dict[str, object]


@dataclass(frozen=True)
class SourceLayout:
    """How to read rows of a source: its entity and timestamp columns, and how to type cells."""

    entity_col: str
    timestamp_col: str
    from_text: bool
    assume_timezone: tzinfo | None = None


@dataclass
class ValidatedBatch:
    """The outcome of validating one batch."""

    records: list[FeatureRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    types: dict[str, ValueType] = field(default_factory=dict)
    # key -> (the type most of its cells had, how many) where that differs from its definition.
    changed_types: dict[str, tuple[ValueType, int]] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        """How many distinct source rows were rejected."""
        return len({rejection.source_row for rejection in self.rejections})


def check_columns(columns: list[str], layout: SourceLayout) -> list[str]:
    """The feature columns of a source; a missing key column or an unusable name is an error."""
    for role, name in (("entity", layout.entity_col), ("timestamp", layout.timestamp_col)):
        if name not in columns:
            raise ValueError(f"{role} column {name!r} is not in the source columns {columns}")
    features = [name for name in columns if name not in (layout.entity_col, layout.timestamp_col)]
    for name in features:
        try:
            _FEATURE_KEY.validate_python(name)
        except ValidationError as exc:
            reason = "; ".join(reason for _, reason in record_errors(exc))
            raise ValueError(f"column {name!r} cannot be a feature key: {reason}") from None
    return features


def validate_batch(
    frame: pd.DataFrame,
    first_row: int,
    layout: SourceLayout,
    known_types: Mapping[str, ValueType],
) -> ValidatedBatch:
    """Validate every row of `frame` (numbered from `first_row`) through `FeatureRecord`."""
    columns = [str(name) for name in frame.columns]
    frame = frame.set_axis(columns, axis="columns")
    features = check_columns(columns, layout)
    batch = ValidatedBatch()
    columns_read = {key: read_column(frame[key], layout.from_text) for key in features}
    converted = _settle_types(batch, columns_read, known_types, layout.from_text)
    entities = frame[layout.entity_col].tolist()
    timestamps = frame[layout.timestamp_col].tolist()
    for index in range(len(frame)):
        problems: list[tuple[str, str]] = []
        entity = _entity(entities[index], layout.entity_col, problems)
        moment = _timestamp(timestamps[index], layout, problems)
        values = _feature_values(converted, index, problems)
        if moment is not None and not problems:
            try:
                batch.records.append(
                    FeatureRecord(entity_id=entity, event_timestamp=moment, dynamic_features=values)
                )
                continue
            except ValidationError as exc:
                problems = [(_source_field(name, layout), why) for name, why in record_errors(exc)]
        raw = {name: jsonable(frame.iat[index, position]) for position, name in enumerate(columns)}
        batch.rejections += [
            Rejection(first_row + index, storable_text(entity) or None, name, reason, raw)
            for name, reason in problems
        ]
    return batch


def _settle_types(
    batch: ValidatedBatch,
    columns: Mapping[str, FeatureColumn],
    known_types: Mapping[str, ValueType],
    from_text: bool,
) -> dict[str, Converted]:
    """Each column's type (its definition's, else inferred), converted; notes changed types."""
    converted = {}
    for key, column in columns.items():
        counts = column.type_counts()
        inferred = infer_type(counts)
        expected = known_types.get(key, inferred)
        converted[key] = column.convert(expected)
        if expected is None:
            continue
        batch.types[key] = expected
        # Digits in a CSV column of a string key are still text: not a change of type.
        text_is_string = from_text and expected == "string"
        if inferred is not None and inferred != expected and not text_is_string:
            batch.changed_types[key] = (inferred, counts[inferred])
    return converted


def _feature_values(
    converted: Mapping[str, Converted], index: int, problems: list[tuple[str, str]]
) -> dict[str, PlainValue | None]:
    values: dict[str, PlainValue | None] = {}
    for key, column in converted.items():
        if index in column.errors:
            problems.append((key, column.errors[index]))
        elif column.values[index] is not None:
            values[key] = column.values[index]
    return values


def _entity(value: object, column: str, problems: list[tuple[str, str]]) -> str:
    if is_missing(value):
        problems.append((column, "missing entity id"))
        return ""
    try:
        return entity_text(value)
    except CellError as exc:
        problems.append((column, str(exc)))
        return ""


def _timestamp(
    value: object, layout: SourceLayout, problems: list[tuple[str, str]]
) -> datetime | None:
    if is_missing(value):
        problems.append((layout.timestamp_col, "missing timestamp"))
        return None
    try:
        return parse_timestamp(value, layout.assume_timezone)
    except CellError as exc:
        problems.append((layout.timestamp_col, str(exc)))
        return None


def _source_field(field_path: str, layout: SourceLayout) -> str:
    """The source column a schema error is about."""
    if field_path == "entity_id":
        return layout.entity_col
    if field_path == "event_timestamp":
        return layout.timestamp_col
    return field_path.removeprefix("dynamic_features.").removesuffix(".[key]")

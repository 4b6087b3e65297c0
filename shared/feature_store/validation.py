"""Turn a batch of source rows into valid rows (column-wise) and rejections with their reasons."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from pydantic import TypeAdapter, ValidationError

from shared.feature_store.columns import Converted, FeatureColumn, infer_type, read_column
from shared.feature_store.copy_lines import TEXT, copy_lines
from shared.feature_store.key_columns import EventTimes, entity_column, event_time_column
from shared.feature_store.values import (
    ValueType,
    jsonable,
    storable_text,
)
from shared.schemas import FeatureKey, record_errors

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


@dataclass(frozen=True)
class ValidRows:
    """A batch's valid rows, column by column: what the writer and the definitions read."""

    entity_ids: list[str] = field(default_factory=list)
    timestamps: list[datetime] = field(default_factory=list)
    # key -> which rows hold a value of it
    present: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    # Each row as COPY text up to its ingestion time (`copy_lines.copy_lines`).
    lines: pa.LargeStringArray = field(default_factory=lambda: pa.array([], TEXT))

    def __len__(self) -> int:
        return len(self.entity_ids)


@dataclass
class ValidatedBatch:
    """The outcome of validating one batch."""

    rows: ValidRows = field(default_factory=ValidRows)
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
    """Validate `frame` (rows numbered from `first_row`) column by column under the contract.

    A row is valid when its entity id, timestamp and every feature cell are: the rules are the
    shared `FeatureRecord` contract's (see `columns.contract_reason`), applied to whole columns.
    """
    columns = [str(name) for name in frame.columns]
    frame = frame.set_axis(columns, axis="columns")
    features = check_columns(columns, layout)
    batch = ValidatedBatch()
    columns_read = {key: read_column(frame[key], layout.from_text) for key in features}
    converted = _settle_types(batch, columns_read, known_types, layout.from_text)
    problems: dict[int, list[tuple[str, str]]] = defaultdict(list)
    entities = entity_column(frame[layout.entity_col], layout.entity_col, problems)
    times = event_time_column(
        frame[layout.timestamp_col], layout.timestamp_col, layout.assume_timezone, problems
    )
    for key, column in converted.items():
        for position, reason in column.errors.items():
            problems[position].append((key, reason))
    valid = np.ones(len(frame), dtype=bool)
    valid[list(problems)] = False
    batch.rows = _valid_rows(valid, entities, times, converted)
    for index in sorted(problems):
        entity = entities[index]
        raw = {name: jsonable(frame.iat[index, position]) for position, name in enumerate(columns)}
        batch.rejections += [
            Rejection(first_row + index, storable_text(entity) or None, name, reason, raw)
            for name, reason in problems[index]
        ]
    return batch


def _valid_rows(
    valid: npt.NDArray[np.bool_],
    entities: list[str],
    times: EventTimes,
    converted: Mapping[str, Converted],
) -> ValidRows:
    positions = np.flatnonzero(valid).tolist()
    cells = {key: np.array(column.values, dtype=object)[valid] for key, column in converted.items()}
    present = {key: ~pd.isna(column) for key, column in cells.items()}
    entity_ids = [entities[position] for position in positions]
    moments = [cast(datetime, times.moments[position]) for position in positions]
    lines = copy_lines(
        entity_ids,
        [times.texts[position] for position in positions],
        {key: column.tolist() for key, column in cells.items()},
        present,
    )
    return ValidRows(entity_ids, moments, present, lines)


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

"""Turn a batch of source rows into valid rows (column-wise) and rejections with their reasons."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
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

    @classmethod
    def concat(cls, parts: Sequence[ValidRows]) -> ValidRows:
        """The rows of consecutive parts of one batch, in order."""
        if len(parts) == 1:
            return parts[0]
        keys = parts[0].present if parts else {}
        return cls(
            [entity for part in parts for entity in part.entity_ids],
            [moment for part in parts for moment in part.timestamps],
            {key: np.concatenate([part.present[key] for part in parts]) for key in keys},
            pa.concat_arrays([part.lines for part in parts]) if parts else pa.array([], TEXT),
        )


@dataclass(frozen=True)
class ValidatedPart:
    """Consecutive rows of a batch, validated: the valid ones and the rejections of the others."""

    rows: ValidRows
    rejections: list[Rejection]


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


@dataclass
class ScreenedBatch:
    """A batch whose feature types are settled: its rows can be validated a range at a time.

    Types are decided over the whole batch (a key's definition, else the type most of its cells
    have); each range of rows is then validated on its own, so a writer can send the first rows
    while the next are validated. The parts of all ranges, in order, are the batch's outcome.
    """

    frame: pd.DataFrame
    first_row: int
    layout: SourceLayout
    columns: dict[str, FeatureColumn]
    # key -> the type its cells are read as (None: no definition and no value to infer it from)
    expected: dict[str, ValueType | None]
    types: dict[str, ValueType] = field(default_factory=dict)
    changed_types: dict[str, tuple[ValueType, int]] = field(default_factory=dict)

    def validate_rows(self, start: int, stop: int) -> ValidatedPart:
        """Validate rows `start` to `stop` (excluded) of the batch."""
        frame = self.frame.iloc[start:stop]
        converted = {
            key: column.rows(start, stop).convert(self.expected[key])
            for key, column in self.columns.items()
        }
        problems: dict[int, list[tuple[str, str]]] = defaultdict(list)
        layout = self.layout
        entities = entity_column(frame[layout.entity_col], layout.entity_col, problems)
        times = event_time_column(
            frame[layout.timestamp_col], layout.timestamp_col, layout.assume_timezone, problems
        )
        for key, column in converted.items():
            for position, reason in column.errors.items():
                problems[position].append((key, reason))
        valid = np.ones(len(frame), dtype=bool)
        valid[list(problems)] = False
        rejections = []
        for index in sorted(problems):
            entity = storable_text(entities[index]) or None
            raw = {
                name: jsonable(frame.iat[index, position])
                for position, name in enumerate(frame.columns)
            }
            source_row = self.first_row + start + index
            rejections += [
                Rejection(source_row, entity, name, reason, raw) for name, reason in problems[index]
            ]
        return ValidatedPart(_valid_rows(valid, entities, times, converted), rejections)

    def outcome(self, parts: Sequence[ValidatedPart]) -> ValidatedBatch:
        """The batch's outcome from the parts of consecutive ranges covering all its rows."""
        return ValidatedBatch(
            ValidRows.concat([part.rows for part in parts]),
            [rejection for part in parts for rejection in part.rejections],
            self.types,
            self.changed_types,
        )


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


def screen_batch(
    frame: pd.DataFrame,
    first_row: int,
    layout: SourceLayout,
    known_types: Mapping[str, ValueType],
) -> ScreenedBatch:
    """Read `frame`'s feature columns (rows numbered from `first_row`) and settle their types."""
    columns = [str(name) for name in frame.columns]
    frame = frame.set_axis(columns, axis="columns")
    features = check_columns(columns, layout)
    read = {key: read_column(frame[key], layout.from_text) for key in features}
    screened = ScreenedBatch(frame, first_row, layout, read, {})
    _settle_types(screened, known_types)
    return screened


def validate_batch(
    frame: pd.DataFrame,
    first_row: int,
    layout: SourceLayout,
    known_types: Mapping[str, ValueType],
) -> ValidatedBatch:
    """Validate `frame` (rows numbered from `first_row`) column by column under the contract.

    A row is valid when its entity id, timestamp and every feature cell are: the rules are the
    shared `FeatureRecord` contract's (see `contract`), applied to whole columns.
    """
    screened = screen_batch(frame, first_row, layout, known_types)
    return screened.outcome([screened.validate_rows(0, len(frame))])


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


def _settle_types(batch: ScreenedBatch, known_types: Mapping[str, ValueType]) -> None:
    """Each column's type (its definition's, else inferred); notes changed types."""
    for key, column in batch.columns.items():
        counts = column.type_counts()
        inferred = infer_type(counts)
        expected = known_types.get(key, inferred)
        batch.expected[key] = expected
        if expected is None:
            continue
        batch.types[key] = expected
        # Digits in a CSV column of a string key are still text: not a change of type.
        text_is_string = batch.layout.from_text and expected == "string"
        if inferred is not None and inferred != expected and not text_is_string:
            batch.changed_types[key] = (inferred, counts[inferred])

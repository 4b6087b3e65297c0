"""Strict pydantic models that training and serving share unchanged: feature records and requests.

Nothing here coerces: a string is never read as a number, a naive timestamp is never assumed to be
UTC, NaN and infinity are refused. A rejected value yields a `ValidationError` whose location names
the field; `record_errors` turns it into (field, reason) pairs for quarantine rows and messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import is_, itemgetter
from typing import Annotated, Any, Self

import numpy as np
import numpy.typing as npt
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StringConstraints,
    ValidationError,
    model_validator,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold U+0000: refusing it here keeps one bad cell from
    # failing a whole ingest batch at COPY time.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


def _feature_value(value: object) -> float | int | str | bool | None:
    # One validator instead of a pydantic union, so a rejected value gets one clear reason
    # rather than one error per union member.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Models read features as doubles, and the stores' JSON codecs stop at 64 bits.
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"integer {value} is outside the 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, not {value}")
        return value
    if isinstance(value, str):
        return _no_nul(value)
    raise ValueError(f"must be a number, string, boolean or null, not {type(value).__name__}")


FeatureKey = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=256), AfterValidator(_no_nul)
]
# 512 characters keeps every entity_id well inside a btree index entry.
EntityId = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=512), AfterValidator(_no_nul)
]
FeatureValue = Annotated[
    float | int | str | bool | None,
    PlainValidator(_feature_value, json_schema_input_type=float | int | str | bool | None),
]
"""One feature value: a finite number, a string or a boolean; None is a missing value."""

FeatureMap = dict[FeatureKey, FeatureValue]

MAX_ENTITIES_PER_REQUEST = 1000


class FeatureRecord(BaseModel):
    """One row of the feature store: an entity's features as of one event time."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    entity_id: EntityId
    event_timestamp: AwareDatetime
    dynamic_features: FeatureMap


class PredictionRequest(BaseModel):
    """A scoring request: exactly one of an entity, a list of entities, or inline features."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    entity_id: EntityId | None = None
    entity_ids: (
        Annotated[list[EntityId], Field(min_length=1, max_length=MAX_ENTITIES_PER_REQUEST)] | None
    ) = None
    features: FeatureMap | None = None

    @model_validator(mode="after")
    def _exactly_one_subject(self) -> Self:
        given = [
            name
            for name in ("entity_id", "entity_ids", "features")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"exactly one of entity_id, entity_ids, features must be given (got: {found})"
            )
        return self


class BatchPredictionRequest(BaseModel):
    """Many inline feature rows scored in one request (POST /v1/predict/batch)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    rows: Annotated[list[FeatureMap], Field(min_length=1)]


class FeatureRowsError(ValueError):
    """A batch body that `BatchPredictionRequest` refuses: where (a field path) and why."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc)) or 'body'}: {msg}")
        self.loc = loc
        self.msg = msg


# Values no rule looks into further: every other value goes through `_feature_value`.
_PLAIN_VALUES = (type(None), bool, float)
_JSON_VALUES = frozenset({type(None), bool, float, int, str})
_FLOATS_AND_NULLS = frozenset({type(None), float})


FeatureColumn = list[FeatureValue] | npt.NDArray[np.float64]
"""One feature's values in row order: a float64 array (NaN: null) when they are floats and nulls."""


@dataclass(frozen=True)
class FeatureRows:
    """A batch body's rows, checked; column by column too when every row has the same keys."""

    rows: list[FeatureMap]
    # Key -> its column, in the first row's key order; None unless every row names exactly the
    # same keys (what a client serializing one table sends), as no row then lacks a key.
    columns: dict[str, FeatureColumn] | None


def feature_rows(document: object) -> FeatureRows:
    """The rows of a decoded `BatchPredictionRequest` body, checked by the same rules.

    For a body decoded by orjson (which refuses NaN and Infinity): per-value pydantic validation
    of 10,000 rows costs several times the scoring, so rows are checked here in one pass and each
    distinct key once.
    """
    if not isinstance(document, dict):
        raise FeatureRowsError((), "must be a JSON object")
    for name in document:
        if name != "rows":
            raise FeatureRowsError((name,), "extra inputs are not permitted")
    rows = document.get("rows")
    if not isinstance(rows, list):
        raise FeatureRowsError(("rows",), "a list of feature objects is required")
    if not rows:
        raise FeatureRowsError(("rows",), "must hold at least 1 row")
    objects = set(map(type, rows)) <= {dict}
    shared: list[str] | None = list(rows[0]) if objects else None
    table = None if shared is None else _table(rows, shared)
    if table is None:
        shared = None
        values = list(chain.from_iterable(map(dict.values, rows))) if objects else []
    else:
        values = table
    kinds = _plain_kinds(values) if objects else None
    if kinds is None:
        _refuse_first_bad_row(rows)
    for key in set(chain.from_iterable(rows)) if shared is None else set(shared):
        if not 1 <= len(key) <= 256 or "\x00" in key:
            index = next(i for i, row in enumerate(rows) if key in row)
            raise FeatureRowsError(
                ("rows", index, key), "a feature name has 1-256 characters and no NUL"
            )
    if shared is None:
        return FeatureRows(rows, None)
    # The table holds every row's values in the shared key order: a column is every width-th one.
    width = len(shared)
    if kinds is not None and kinds <= _FLOATS_AND_NULLS:
        # One C loop reads them all (null: NaN), exactly: no int is rounded, no text is read.
        numbers = np.array(values, dtype=np.float64).reshape(len(rows), width)
        return FeatureRows(rows, {key: numbers[:, i] for i, key in enumerate(shared)})
    return FeatureRows(rows, {key: values[i::width] for i, key in enumerate(shared)})


def _table(rows: list[dict[str, Any]], keys: list[str]) -> list[Any] | None:
    """Every row's values for `keys`, row after row, if every row has exactly these keys."""
    if set(map(len, rows)) != {len(keys)}:
        return None
    if not keys:
        return []
    picked = map(itemgetter(*keys), rows)
    try:
        # As many keys as `keys` and each of them present: the same keys, in any order. Each
        # row's tuple is freed as soon as it is read (10,000 live tuples wake the cyclic GC).
        return list(picked) if len(keys) == 1 else list(chain.from_iterable(picked))
    except KeyError:
        return None


def _plain_kinds(values: list[Any]) -> set[type] | None:
    """The types of `values` if `_feature_value` accepts every one, decided in C loops.

    A sufficient check (float sums may overflow): None sends the rows to the per-value loop.
    """
    kinds = set(map(type, values))
    if not kinds <= _JSON_VALUES:
        return None

    def of(kind: type) -> list[Any]:
        if len(kinds) == 1:
            return values
        return list(compress(values, map(is_, map(type, values), repeat(kind))))

    if float in kinds and not math.isfinite(sum(of(float))):
        return None
    if int in kinds:
        ints = of(int)
        if not INT64_MIN <= min(ints) <= max(ints) <= INT64_MAX:
            return None
    return kinds if str not in kinds or "\x00" not in "".join(of(str)) else None


def _refuse_first_bad_row(rows: list[Any]) -> None:
    """Raise FeatureRowsError for the first row or value (in row order) the schema refuses."""
    for index, row in enumerate(rows):
        if type(row) is not dict:
            raise FeatureRowsError(("rows", index), "must be an object of features")
        for key, value in row.items():
            if type(value) not in _PLAIN_VALUES or (
                type(value) is float and not math.isfinite(value)
            ):
                try:
                    _feature_value(value)
                except ValueError as exc:
                    raise FeatureRowsError(("rows", index, key), str(exc)) from exc


def record_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """The (field, reason) pairs of a validation error; the field is a dotted path."""
    pairs = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "record"
        pairs.append((field, error["msg"].removeprefix("Value error, ")))
    return pairs

"""The shared record contract (`shared.schemas`) applied to single cells, behind cheap screens.

Ingest validates whole columns: a cell that passes a screen here (a finite float, a 64-bit
integer, text without NUL, an entity id of 1 to 512 characters) satisfies the contract for sure;
any other cell is validated by the contract's own pydantic types, whose message is the reason. So
`shared.schemas` stays the one definition of a valid record, and a test holds the screens to it.
"""

from __future__ import annotations

import math

from pydantic import TypeAdapter, ValidationError

from shared.feature_store.values import PlainValue
from shared.schemas import INT64_MAX, INT64_MIN, EntityId, FeatureValue, record_errors

ENTITY_ID_MAX_LENGTH = 512
_FEATURE_VALUE: TypeAdapter[PlainValue | None] = TypeAdapter(FeatureValue)
_ENTITY_ID: TypeAdapter[str] = TypeAdapter(EntityId)


def value_reason(value: object) -> str:
    """Why the contract refuses `value` as a feature value; "" when it accepts it."""
    if not _may_break_value_contract(value):
        return ""
    return _reason(_FEATURE_VALUE, value)


def entity_reason(text: str) -> str:
    """Why the contract refuses `text` as an entity id; "" when it accepts it."""
    if 0 < len(text) <= ENTITY_ID_MAX_LENGTH and "\x00" not in text:
        return ""
    return _reason(_ENTITY_ID, text)


def _may_break_value_contract(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, int):
        return not INT64_MIN <= value <= INT64_MAX
    return not isinstance(value, str) or "\x00" in value


def _reason(
    adapter: TypeAdapter[object] | TypeAdapter[str] | TypeAdapter[PlainValue | None], value: object
) -> str:
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return "; ".join(reason for _, reason in record_errors(exc))
    return ""

"""The database itself refuses to change or remove registered models and promotions."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from shared.registry import list_models, promote, promotion_history, register_model
from tests.registry.factories import new_model

STATEMENTS = {
    "model_registry": [
        "UPDATE model_registry SET algo = 'tampered'",
        "DELETE FROM model_registry",
        "TRUNCATE model_registry CASCADE",
    ],
    "model_promotions": [
        "UPDATE model_promotions SET reason = 'tampered'",
        "DELETE FROM model_promotions",
        "TRUNCATE model_promotions",
    ],
}


@pytest.mark.parametrize(
    ("table", "statement"), [(t, s) for t, stmts in STATEMENTS.items() for s in stmts]
)
def test_mutation_fails_at_the_database(
    conn: psycopg.Connection[Any], table: str, statement: str
) -> None:
    model = register_model(conn, new_model())
    promote(conn, model.model_version, "baseline")
    before = (list_models(conn), promotion_history(conn))

    with pytest.raises(
        psycopg.errors.IntegrityConstraintViolation, match=f"{table} is append-only"
    ):
        conn.execute(statement)

    assert (list_models(conn), promotion_history(conn)) == before

"""benchmark_gin_index.py on a real feature_store: read-only by default, classes compared."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from bench.gin import load
from tests.scripts.conftest import run_script

KEY_EXISTS = "SELECT count(*) FROM feature_store WHERE dynamic_features ? 'campaign';\n"
CONTAINMENT = (
    "-- one campaign: about one row in ten thousand\n"
    'SELECT entity_id FROM feature_store WHERE dynamic_features @> \'{"campaign": "c17"}\';\n'
)


@pytest.fixture
def loaded(database_url: str) -> str:
    """The test database with 20,000 synthetic feature rows (20 keys) and fresh statistics."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        load(conn, 20_000, seed=7)
    return database_url


def _state(url: str) -> tuple[list[tuple[str, str]], int]:
    """The table's indexes and row count: what a read-only run must leave as it was."""
    with psycopg.connect(url) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'feature_store' "
            "ORDER BY indexname"
        ).fetchall()
        row = conn.execute("SELECT count(*) FROM feature_store").fetchone()
    assert row is not None
    return indexes, row[0]


def _run(url: str, *args: str) -> tuple[int, str, str]:
    result = run_script(
        "benchmark_gin_index.py", "--table", "feature_store", "--database-url", url,
        "--runs", "10", *args,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_sampled_containment_queries_can_use_the_path_ops_index(loaded: str) -> None:
    before = _state(loaded)
    code, out, err = _run(loaded)
    assert code == 0, out + err
    assert re.search(
        r"index feature_store_dynamic_features_gin \(jsonb_path_ops\) [\d.]+ MiB, "
        r"index/table \d+\.\d{3}",
        out,
    )
    assert re.search(r"q1 p50 +[\d.]+ ms +p99 +[\d.]+ ms .*GIN usable: feature_store_dyn", out)
    assert "OK: every query can use a GIN index" in out
    assert "jsonb_ops: no index of this class on the column; --build-indexes measures it" in out
    assert _state(loaded) == before


def test_key_existence_needs_jsonb_ops_and_the_table_is_left_as_it_was(
    loaded: str, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.sql"
    queries.write_text(CONTAINMENT + KEY_EXISTS)
    before = _state(loaded)
    code, out, err = _run(loaded, "--queries", str(queries), "--build-indexes")
    assert code == 1, out + err
    assert "FAIL: q2 cannot use a GIN index of feature_store; served by jsonb_ops" in err
    assert re.search(r"index benchmark_gin_jsonb_ops \(jsonb_ops\) .* built in", out)
    assert re.search(r"jsonb_ops / jsonb_path_ops index size: \d+\.\d\dx", out)
    assert _state(loaded) == before  # each built variant was rolled back


def test_a_write_in_the_query_file_is_refused_by_the_database(loaded: str, tmp_path: Path) -> None:
    queries = tmp_path / "queries.sql"
    queries.write_text("DELETE FROM feature_store WHERE entity_id = 'e0000001';\n")
    before = _state(loaded)
    code, _, err = _run(loaded, "--queries", str(queries))
    assert code == 2
    assert "cannot execute DELETE in a read-only transaction" in err
    assert _state(loaded) == before


def test_a_missing_table_or_column_is_named(database_url: str) -> None:
    result = run_script(
        "benchmark_gin_index.py", "--table", "no_such_table", "--database-url", database_url
    )
    assert result.returncode == 2
    assert "--table: no table 'no_such_table'" in result.stderr
    code, _, err = _run(database_url, "--column", "nope")
    assert code == 2
    assert "--column: feature_store has no column 'nope'" in err


def test_help() -> None:
    result = run_script("benchmark_gin_index.py", "--help")
    assert result.returncode == 0
    assert "--build-indexes" in result.stdout and "--queries" in result.stdout

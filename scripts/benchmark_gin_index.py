"""Compare GIN jsonb_ops and jsonb_path_ops on your own table and queries: sizes, plans, p50/p99.

    python scripts/benchmark_gin_index.py --table feature_store [--queries queries.sql]

Read-only by default: the session is read-only (PostgreSQL refuses any write), the table's GIN
indexes on --column are reported (operator class, size, index/table ratio) and every query is
planned (EXPLAIN) and timed as the table stands. --queries is a file of SQL statements separated
by `;`; without it, containment queries (`@>`) are made from key/value pairs sampled from the table.

--build-indexes also measures each operator class on the table: per class, one transaction drops
the table's GIN indexes on the column, builds the class's index, measures and is rolled back, so
the table ends as it began. While it runs the table is locked (ACCESS EXCLUSIVE: reads and writes
wait): run it on a copy or a replica promoted for the purpose, or in a quiet window.

Each query shows the GIN indexes its plan reads and those it could read (planned again with
sequential scans priced out: a broad query is rightly a sequential scan, but an index whose
operator class lacks the query's operator, like `?` under jsonb_path_ops, is never usable).
Exit 0: every query can use a GIN index of the table as it stands; 1: some query cannot (the
output says which operator class would serve it when --build-indexes measured them);
2: the benchmark could not run (no such table or column, a query failed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

# Run as a plain script from a checkout: make the repository importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import sqlparse
from psycopg import sql

from bench.gin import Latency, measure
from shared.db import database_url

OPERATOR_CLASSES = ("jsonb_path_ops", "jsonb_ops")
BUILD_HINT = "--build-indexes measures it"
SAMPLED_QUERIES = 8
GIN_INDEXES_SQL = """
SELECT i.relname, opc.opcname, pg_relation_size(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
JOIN pg_opclass opc ON opc.oid = x.indclass[0]
JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
WHERE x.indrelid = %s::regclass AND am.amname = 'gin' AND a.attname = %s
ORDER BY i.relname
"""


class BenchmarkError(RuntimeError):
    """The benchmark cannot run; the message names the table, column or query at fault."""


@dataclass(frozen=True)
class GinIndex:
    """A GIN index on the column: name, operator class and size in bytes."""

    name: str
    opclass: str
    size_bytes: int


@dataclass(frozen=True)
class QueryResult:
    """One query under one index set: the GIN indexes its plan reads, could read, its latency."""

    query: str
    gin_indexes_used: list[str]
    gin_indexes_usable: list[str]
    latency: Latency


@dataclass(frozen=True)
class Variant:
    """The table with one set of GIN indexes on the column, and the queries measured on it."""

    label: str
    indexes: list[GinIndex]
    results: list[QueryResult]
    build_seconds: float = 0.0


def read_queries(path: Path) -> list[str]:
    """The statements of a SQL file (comments and empty statements left out)."""
    if not path.is_file():
        raise BenchmarkError(f"--queries: no file at {path}")
    statements = [
        sqlparse.format(s, strip_comments=True).strip().rstrip(";")
        for s in sqlparse.split(path.read_text(encoding="utf-8"))
    ]
    queries = [s for s in statements if s]
    if not queries:
        raise BenchmarkError(f"--queries: {path} holds no SQL statement")
    return queries


def sampled_queries(conn: psycopg.Connection[Any], table: str, column: str) -> list[str]:
    """Containment queries on key/value pairs of rows sampled from the table."""
    sample = sql.SQL(
        "SELECT {column}::text FROM {table} WHERE jsonb_typeof({column}) = 'object' LIMIT 200"
    ).format(column=sql.Identifier(column), table=sql.Identifier(table))
    pairs: list[dict[str, object]] = []
    for (document,) in conn.execute(sample):
        for key, value in json.loads(document).items():
            if isinstance(value, str | bool) and {key: value} not in pairs:
                pairs.append({key: value})
    if not pairs:
        raise BenchmarkError(
            f"{table}.{column} has no text or boolean value to query; pass --queries"
        )
    step = max(1, len(pairs) // SAMPLED_QUERIES)
    query = sql.SQL("SELECT count(*) FROM {table} WHERE {column} @> {document}")
    return [
        query.format(
            table=sql.Identifier(table),
            column=sql.Identifier(column),
            document=sql.Literal(json.dumps(pair)),
        ).as_string(conn)
        for pair in pairs[::step][:SAMPLED_QUERIES]
    ]


def gin_indexes(conn: psycopg.Connection[Any], table: str, column: str) -> list[GinIndex]:
    """The GIN indexes on `table`.`column`."""
    return [GinIndex(*row) for row in conn.execute(GIN_INDEXES_SQL, (table, column))]


def _plan_indexes(plan: dict[str, Any]) -> Iterator[str]:
    """Every index name in an EXPLAIN (FORMAT JSON) plan tree."""
    if "Index Name" in plan:
        yield plan["Index Name"]
    for child in plan.get("Plans", ()):
        yield from _plan_indexes(child)


def _fetch_all(conn: psycopg.Connection[Any], query: str) -> object:
    return conn.execute(query).fetchall()


def run_queries(
    conn: psycopg.Connection[Any], queries: list[str], gin: list[GinIndex], runs: int
) -> list[QueryResult]:
    """Plan and time each query; which of the `gin` indexes each plan reads."""
    names = {index.name for index in gin}
    results = []
    for query in queries:
        try:
            used = [name for name in plan_indexes(conn, query) if name in names]
            latency = measure(partial(_fetch_all, conn, query), runs)
            # With sequential scans priced out, a GIN index that supports the query's operator
            # shows in the plan: a broad query may rightly be a seq scan, but it *could* use it.
            conn.execute("SET LOCAL enable_seqscan = off")
            usable = [name for name in plan_indexes(conn, query) if name in names]
            conn.execute("SET LOCAL enable_seqscan = on")
        except psycopg.Error as exc:
            raise BenchmarkError(f"query failed: {query[:120]}: {str(exc).strip()}") from exc
        results.append(QueryResult(query, used, usable, latency))
    return results


def plan_indexes(conn: psycopg.Connection[Any], query: str) -> list[str]:
    """The indexes the plan of `query` reads."""
    [[explained]] = conn.execute(f"EXPLAIN (FORMAT JSON) {query}").fetchall()
    return list(_plan_indexes(explained[0]["Plan"]))


def table_size(conn: psycopg.Connection[Any], table: str) -> int:
    """pg_table_size of the table (heap and TOAST, no indexes)."""
    row = conn.execute("SELECT pg_table_size(%s::regclass)", (table,)).fetchone()
    assert row is not None
    return int(row[0])


def check_target(conn: psycopg.Connection[Any], table: str, column: str) -> None:
    """Fail with a clear message when the table or its jsonb column does not exist."""
    row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    if row is None or row[0] is None:
        raise BenchmarkError(f"--table: no table {table!r} in this database")
    kind = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
        (table, column),
    ).fetchone()
    if kind is None:
        raise BenchmarkError(f"--column: {table} has no column {column!r}")
    if kind[0] != "jsonb":
        raise BenchmarkError(f"--column: {table}.{column} is {kind[0]}, not jsonb")


def built_variant(
    conn: psycopg.Connection[Any],
    table: str,
    column: str,
    opclass: str,
    queries: list[str],
    runs: int,
) -> Variant:
    """One operator class alone on the column, measured inside a transaction rolled back."""
    name = f"benchmark_gin_{opclass}"
    with conn.transaction(force_rollback=True):
        for index in gin_indexes(conn, table, column):
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index.name)))
        started = time.perf_counter()
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING gin ({} {})").format(
                sql.Identifier(name),
                sql.Identifier(table),
                sql.Identifier(column),
                sql.SQL(opclass),
            )
        )
        build_seconds = time.perf_counter() - started
        indexes = gin_indexes(conn, table, column)
        return Variant(opclass, indexes, run_queries(conn, queries, indexes, runs), build_seconds)


def print_variant(variant: Variant, table_bytes: int) -> None:
    """The variant's indexes and each query's plan and latency."""
    print(f"{variant.label}:")
    for index in variant.indexes:
        built = f", built in {variant.build_seconds:.1f} s" if variant.build_seconds else ""
        print(
            f"  index {index.name} ({index.opclass}) {index.size_bytes / 2**20:.2f} MiB, "
            f"index/table {index.size_bytes / table_bytes:.3f}{built}"
        )
    if not variant.indexes:
        print("  no GIN index on the column")
    for number, result in enumerate(variant.results, 1):
        plan = ", ".join(result.gin_indexes_used) or "no GIN index"
        usable = ", ".join(result.gin_indexes_usable) or "NONE"
        print(f"  q{number} {result.latency}  plan reads: {plan}; GIN usable: {usable}")


def benchmark(args: argparse.Namespace) -> int:
    """Measure, print, and return the exit code."""
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = {int(args.lock_timeout_s * 1000)}")
        if not args.build_indexes:  # PostgreSQL itself then refuses any write of this session
            conn.execute("SET default_transaction_read_only = on")
        check_target(conn, args.table, args.column)
        queries = (
            read_queries(args.queries)
            if args.queries
            else sampled_queries(conn, args.table, args.column)
        )
        table_bytes = table_size(conn, args.table)
        print(f"{args.table}: {table_bytes / 2**20:.2f} MiB (table); {len(queries)} queries:")
        for number, query in enumerate(queries, 1):
            print(f"  q{number}: {' '.join(query.split())[:160]}")
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            current_indexes = gin_indexes(conn, args.table, args.column)
            current = Variant(
                "as it stands",
                current_indexes,
                run_queries(conn, queries, current_indexes, args.runs),
            )
        print_variant(current, table_bytes)
        present = {index.opclass for index in current.indexes}
        for opclass in OPERATOR_CLASSES:
            if opclass not in present and not args.build_indexes:
                print(
                    f"{opclass}: no index of this class on the column; --build-indexes measures it"
                )
        variants = []
        if args.build_indexes:
            for opclass in OPERATOR_CLASSES:
                variant = built_variant(conn, args.table, args.column, opclass, queries, args.runs)
                variants.append(variant)
                print_variant(variant, table_bytes)
    if len(variants) == 2:
        path_ops, jsonb_ops = (v.indexes[0].size_bytes for v in variants)
        print(f"jsonb_ops / jsonb_path_ops index size: {jsonb_ops / path_ops:.2f}x")
    unserved = [n for n, r in enumerate(current.results, 1) if not r.gin_indexes_usable]
    for number in unserved:
        serving = [v.label for v in variants if v.results[number - 1].gin_indexes_usable]
        hint = f"; served by {', '.join(serving)}" if serving else ""
        if not variants:
            hint = "; --build-indexes measures which operator class would serve it"
        print(f"FAIL: q{number} cannot use a GIN index of {args.table}{hint}", file=sys.stderr)
    if unserved:
        return 1
    print(f"OK: every query can use a GIN index of {args.table}.{args.column}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run; see the module docstring for the exit codes."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Read-only unless --build-indexes is given.",
    )
    parser.add_argument("--table", required=True, help="table holding the jsonb column")
    parser.add_argument("--column", default="dynamic_features", help="the jsonb column")
    parser.add_argument("--queries", type=Path, help="SQL file of the queries to measure")
    parser.add_argument("--database-url", help="default: DATABASE_URL (or the embedded server)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query")
    parser.add_argument(
        "--build-indexes",
        action="store_true",
        help="also measure each operator class (in a transaction rolled back; locks the table)",
    )
    parser.add_argument("--lock-timeout-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    args.database_url = args.database_url or database_url()
    try:
        return benchmark(args)
    except (BenchmarkError, psycopg.Error) as exc:
        print(f"benchmark_gin_index: cannot run: {str(exc).strip()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`converge bench gin`: GIN index size and containment latency, and `latest()` latency, at scale.

Runs in a scratch database it creates (migrated to the real schema) and drops afterwards, never in
the user's data. Loads N synthetic rows with COPY (10 event times per entity, 20 keys),
then measures each GIN operator class alone, a sequential scan as the containment baseline, and
`latest()` against a LATERAL lookup over the history primary key decoded the same way (binary
cursor, orjson) as its fair same-run baseline; training's as-of read (text decoding) is printed
too, with the part of its gap that is client-side decoding.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import click
import numpy as np
import orjson
import psycopg
from psycopg import sql

from bench.scratch import scratch_database
from shared.db import database_url
from shared.feature_store.retrieval import features_as_of, latest

T = TypeVar("T")
TIMESTAMPS_PER_ENTITY = 10
CAMPAIGNS = 10_000
COPY_ROWS_PER_STATEMENT = 100_000
SCHEMA_GIN_INDEX = "feature_store_dynamic_features_gin"
PATH_OPS_TARGET = 0.20
LATEST_50_TARGET_MS = 1.0
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())  # first event day, epoch seconds


@dataclass(frozen=True)
class Latency:
    """Client-side latency percentiles of one repeated call, in milliseconds."""

    p50_ms: float
    p99_ms: float
    runs: int

    def __str__(self) -> str:
        return f"p50 {self.p50_ms:8.3f} ms  p99 {self.p99_ms:8.3f} ms  ({self.runs} runs)"


def measure(call: Callable[[], object], runs: int) -> Latency:
    """Time `runs` calls after a few warm-up calls (which also let psycopg prepare statements)."""
    for _ in range(min(runs, 6)):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return Latency(statistics.median(samples), cuts[98], runs)


def synthetic_chunk(first: int, count: int, entities: int, rng: np.random.Generator) -> bytes:
    """COPY text of rows first..first+count: entities x event times, ~20 keys of every JSON type.

    Vectorised with numpy and serialised with orjson, so generating the data costs a fraction of
    loading it (a per-row `random` + `json.dumps` generator took ~75 s of a 1M-row load).
    """
    index = np.arange(first, first + count)
    moments = START + (index // entities) * 86_400 + rng.integers(0, 86_400, count)
    stamps = np.datetime_as_string(moments.astype("datetime64[s]"), unit="s", timezone="UTC")
    columns: dict[str, list[object]] = {
        "campaign": [f"c{v}" for v in rng.integers(0, CAMPAIGNS, count).tolist()],
        "segment": [f"s{v}" for v in rng.integers(0, 8, count).tolist()],
        "country": [f"cc{v}" for v in rng.integers(0, 50, count).tolist()],
        "plan": [f"p{v}" for v in rng.integers(0, 4, count).tolist()],
        "active": (rng.random(count) < 0.5).tolist(),
        "tenure_days": rng.integers(0, 3650, count).tolist(),
        **{
            f"f{k:02d}": values.tolist()
            for k, values in enumerate(np.round(rng.normal(0, 1, (14, count)), 4))
        },
    }
    keys = list(columns)
    documents = (
        orjson.dumps(dict(zip(keys, row, strict=True)))
        for row in zip(*columns.values(), strict=True)
    )
    return b"".join(
        b"e%07d\t%s\t%s\n" % (entity, stamp.encode(), document)
        for entity, stamp, document in zip(
            (index % entities).tolist(), stamps.tolist(), documents, strict=True
        )
    )


@dataclass(frozen=True)
class LoadTimes:
    """Seconds spent generating the synthetic rows and loading them with COPY (trigger included)."""

    generate_s: float
    copy_s: float
    vacuum_s: float


def load(conn: psycopg.Connection, rows: int, seed: int) -> LoadTimes:
    """COPY `rows` synthetic rows into feature_store (its trigger keeps feature_latest)."""
    columns = "COPY feature_store (entity_id, event_timestamp, dynamic_features) FROM STDIN"
    entities = max(1, rows // TIMESTAMPS_PER_ENTITY)
    rng = np.random.default_rng(seed)
    generate_s = copy_s = 0.0
    with conn.transaction():
        for first in range(0, rows, COPY_ROWS_PER_STATEMENT):
            started = time.perf_counter()
            chunk = synthetic_chunk(
                first, min(COPY_ROWS_PER_STATEMENT, rows - first), entities, rng
            )
            generate_s += time.perf_counter() - started
            started = time.perf_counter()
            # One COPY statement per chunk keeps the latest-row trigger's sort small.
            with conn.cursor() as cur, cur.copy(columns) as copy:
                copy.write(chunk)
            copy_s += time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("VACUUM ANALYZE feature_store")
    conn.execute("VACUUM ANALYZE feature_latest")
    return LoadTimes(generate_s, copy_s, time.perf_counter() - started)


@dataclass(frozen=True)
class ContainmentResult:
    """One access path's containment figures (index size and build time when there is an index)."""

    label: str
    selective: Latency
    broad: Latency
    uses_index: bool
    index_bytes: int = 0
    build_seconds: float = 0.0


def containment_queries(seed: int) -> tuple[list[str], list[str]]:
    """Selective (~1 row in 10,000) and broad (~1 in 200) containment documents."""
    rng = random.Random(seed + 1)
    selective = [json.dumps({"campaign": f"c{rng.randrange(CAMPAIGNS)}"}) for _ in range(64)]
    broad = [
        json.dumps({"country": f"cc{rng.randrange(50)}", "plan": f"p{rng.randrange(4)}"})
        for _ in range(64)
    ]
    return selective, broad


def run_containment(
    conn: psycopg.Connection, seed: int, runs: int
) -> tuple[Latency, Latency, bool]:
    """Latencies of both query shapes and whether the plan reads a GIN index."""
    query = "SELECT entity_id, event_timestamp FROM feature_store WHERE dynamic_features @> %s"
    selective, broad = containment_queries(seed)
    plan = conn.execute(f"EXPLAIN {query}", (selective[0],)).fetchall()
    uses_index = any("Bitmap Index Scan" in line[0] for line in plan)
    return (
        measure(_cycling(conn, query, selective, runs), runs),
        measure(_cycling(conn, query, broad, runs), runs),
        uses_index,
    )


def _cycling(
    conn: psycopg.Connection, query: str, documents: list[str], runs: int
) -> Callable[[], object]:
    """A call that runs `query` with the next document each time."""
    picks = _cycle(documents, runs)
    return lambda: conn.execute(query, (next(picks),)).fetchall()


def _cycle(items: list[T], runs: int) -> Iterator[T]:
    """The items repeated often enough for the warm-up calls and `runs` measured calls."""
    return iter(items * (runs // len(items) + 2))


def gin_variant(conn: psycopg.Connection, opclass: str, seed: int, runs: int) -> ContainmentResult:
    """Build one GIN variant, measure it alone, then drop it."""
    name = sql.Identifier(f"bench_gin_{opclass}")
    started = time.perf_counter()
    conn.execute(
        sql.SQL("CREATE INDEX {} ON feature_store USING gin (dynamic_features {})").format(
            name, sql.SQL(opclass)
        )
    )
    build_seconds = time.perf_counter() - started
    index_bytes = _size(conn, f"SELECT pg_relation_size('bench_gin_{opclass}')")
    conn.execute("ANALYZE feature_store")
    selective, broad, uses_index = run_containment(conn, seed, runs)
    conn.execute(sql.SQL("DROP INDEX {}").format(name))
    return ContainmentResult(opclass, selective, broad, uses_index, index_bytes, build_seconds)


# The fair baseline of `latest()`: the newest history row per entity by a LATERAL descent of the
# primary key, fetched and decoded exactly as `latest()` fetches feature_latest (binary cursor,
# UTF-8 document bytes, orjson), so the ratio is the latest-row table's gain alone.
LATERAL_LATEST_SQL = """
SELECT f.entity_id, f.event_timestamp, convert_to(f.dynamic_features::text, 'UTF8')
FROM unnest(%s::text[]) AS q(entity_id)
JOIN LATERAL (
    SELECT s.entity_id, s.event_timestamp, s.dynamic_features
    FROM feature_store s
    WHERE s.entity_id = q.entity_id
    ORDER BY s.event_timestamp DESC
    LIMIT 1
) f ON true
"""


@dataclass(frozen=True)
class LatestComparison:
    """`latest()` and its baselines on the same entity sets."""

    latest: Latency
    lateral_same_decoding: Latency
    as_of_text: Latency


def lateral_latest(conn: psycopg.Connection, entity_ids: list[str]) -> dict[str, object]:
    """The newest row per entity from the history, decoded as `latest()` decodes."""
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(LATERAL_LATEST_SQL, (entity_ids,)).fetchall()
    return {row[0]: (row[1], orjson.loads(row[2])) for row in rows}


def latest_latencies(
    conn: psycopg.Connection, entities: int, size: int, runs: int, seed: int
) -> LatestComparison:
    """`latest()`, the LATERAL baseline decoded the same way, and training's as-of read."""
    rng = random.Random(seed + size)
    sets = [[f"e{rng.randrange(entities):07d}" for _ in range(size)] for _ in range(256)]
    future = [FAR_FUTURE] * size
    ours, fair, as_of = _cycle(sets, runs), _cycle(sets, runs), _cycle(sets, runs)
    return LatestComparison(
        latest=measure(lambda: latest(conn, next(ours)), runs),
        lateral_same_decoding=measure(lambda: lateral_latest(conn, next(fair)), runs),
        as_of_text=measure(lambda: features_as_of(conn, next(as_of), future), runs),
    )


def _scalar(conn: psycopg.Connection, query: str) -> object:
    row = conn.execute(query).fetchone()
    if row is None:
        raise RuntimeError(f"no result from {query!r}")
    return row[0]


def _size(conn: psycopg.Connection, query: str) -> int:
    value = _scalar(conn, query)
    if not isinstance(value, int):
        raise RuntimeError(f"{query!r} returned {value!r}, not a byte count")
    return value


def _report_containment(
    result: ContainmentResult, table_bytes: int, seq: ContainmentResult
) -> None:
    if result.index_bytes:
        ratio = result.index_bytes / table_bytes
        click.echo(
            f"  {result.label:15s} index {result.index_bytes / 2**20:8.1f} MiB  "
            f"index/table {ratio:.3f}  build {result.build_seconds:6.1f} s  "
            f"plan uses GIN: {result.uses_index}"
        )
    for shape in ("selective", "broad"):
        latency: Latency = getattr(result, shape)
        speedup = getattr(seq, shape).p50_ms / latency.p50_ms
        click.echo(f"    {shape:9s} {latency}  seq-scan/this p50 {speedup:7.1f}x")


@click.command()
@click.option("--rows", type=click.IntRange(min=100), default=1_000_000, show_default=True)
@click.option(
    "--table",
    type=click.Choice(["feature_store"]),
    default="feature_store",
    show_default=True,
    help="Table to benchmark (created in a scratch database).",
)
@click.option("--runs", type=click.IntRange(min=10), default=2000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--database-url",
    "server_url",
    default=None,
    help="Server to create the scratch database on. Default: DATABASE_URL or the embedded server.",
)
def command(rows: int, table: str, runs: int, seed: int, server_url: str | None) -> None:
    """GIN jsonb_ops vs jsonb_path_ops, containment vs seq scan, latest() vs LATERAL."""
    with scratch_database(server_url or database_url(), "converge_bench_gin") as scratch:
        click.echo(f"scratch database {scratch.name} (dropped at the end); table {table}")
        _benchmark(scratch.url, rows, runs, seed)


def _benchmark(url: str, rows: int, runs: int, seed: int) -> None:
    entities = max(1, rows // TIMESTAMPS_PER_ENTITY)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(SCHEMA_GIN_INDEX)))
        times = load(conn, rows, seed)
        table_bytes = _size(conn, "SELECT pg_table_size('feature_store')")
        click.echo(
            f"loaded {rows} rows ({entities} entities x {TIMESTAMPS_PER_ENTITY}, 20 keys) "
            f"with COPY in {times.copy_s:.1f} s ({rows / times.copy_s:,.0f} rows/s, latest-row "
            f"trigger included; generating them took {times.generate_s:.1f} s, VACUUM ANALYZE "
            f"{times.vacuum_s:.1f} s); table {table_bytes / 2**20:.1f} MiB; "
            f"maintenance_work_mem {_scalar(conn, 'SHOW maintenance_work_mem')}"
        )
        # Broad containment returns rows/200 rows; keep each access path's share of time bounded.
        scan_runs = max(10, min(runs, 5_000_000 // rows))
        index_runs = max(10, min(runs, 50_000_000 // rows))
        seq = ContainmentResult("seq scan", *run_containment(conn, seed, scan_runs))
        variants = [
            gin_variant(conn, ops, seed, index_runs) for ops in ("jsonb_path_ops", "jsonb_ops")
        ]
        click.echo("containment (dynamic_features @> ...):")
        for result in variants:
            _report_containment(result, table_bytes, seq)
        click.echo(f"  {'seq scan':15s} (baseline)")
        _report_containment(seq, table_bytes, seq)
        path_ops, jsonb_ops = variants
        click.echo(
            f"  jsonb_ops/jsonb_path_ops size {jsonb_ops.index_bytes / path_ops.index_bytes:.2f}x; "
            f"target jsonb_path_ops index/table < {PATH_OPS_TARGET}: "
            f"{'met' if path_ops.index_bytes / table_bytes < PATH_OPS_TARGET else 'MISSED'}"
        )
        click.echo("latest() (feature_latest, = ANY) vs LATERAL over the history primary key:")
        for size in (1, 50):
            compared = latest_latencies(conn, entities, size, runs, seed)
            ours, fair, as_of = compared.latest, compared.lateral_same_decoding, compared.as_of_text
            click.echo(f"  {size:2d} entities latest()                 {ours}")
            click.echo(
                f"  {size:2d} entities LATERAL, same decoding   {fair}  ratio "
                f"{fair.p50_ms / ours.p50_ms:.2f}x (the feature_latest table's gain)"
            )
            decoding_share = (as_of.p50_ms - fair.p50_ms) / max(as_of.p50_ms - ours.p50_ms, 1e-9)
            click.echo(
                f"  {size:2d} entities as-of read (text)        {as_of}  ratio "
                f"{as_of.p50_ms / ours.p50_ms:.2f}x, of which client-side decoding "
                f"{decoding_share:.0%} of the gap"
            )
        verdict = "met" if ours.p50_ms < LATEST_50_TARGET_MS else "MISSED"
        click.echo(f"  target latest() of 50 entities p50 < {LATEST_50_TARGET_MS} ms: {verdict}")

"""`converge bench ingest`: `converge ingest` end to end against a plain COPY of the same rows.

Per size: a CSV of N rows x 20 features (14 decimals, 2 integers, 3 strings, 1 boolean; 5 % of
cells blank) is ingested by `converge ingest` (a fresh process: start-up, CSV reading, validation,
COPY, definitions, drift and cache invalidation included) and, in process, by `ingest_file`. The
baseline is the strongest plain load of the same rows: one COPY of the documents converge stored,
pre-rendered as COPY text (rendering excluded), into `feature_store` of a fresh database with the
same indexes and latest-row trigger. Both runs load identical rows (checked by a checksum).

converge merges the GIN index's pending list on a second connection while it writes, so
PostgreSQL's index work runs on a second core (`shared.feature_store.pending_merge`). The same
COPY with that merge beside it is timed too (until the list is merged), so what converge gains
from it and what its own pipeline costs both show; each load's index size is printed, free
pages included.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import click
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.scratch import scratch_database
from shared.db import database_url
from shared.feature_store import ingest_file
from shared.feature_store.pending_merge import PendingListMerger

TARGET_RATIO = 0.9
FLOOR_RATIO = 0.7
ENTITIES_PER_ROW = 0.1  # ten event times per entity
_COPY_IN = "COPY feature_store (entity_id, event_timestamp, dynamic_features) FROM STDIN"
_COPY_OUT = (
    "COPY (SELECT entity_id, event_timestamp, dynamic_features FROM feature_store) TO STDOUT"
)
_INDEX_SIZE = "SELECT pg_relation_size('feature_store_dynamic_features_gin')"
_CHECKSUM = (
    "SELECT count(*), sum(hashtextextended("
    "entity_id || event_timestamp::text || dynamic_features::text, 0)) FROM feature_store"
)


def write_source(path: Path, rows: int, seed: int) -> None:
    """The benchmark's CSV: entity, timestamp and 20 features of every JSON type, some blank."""
    rng = np.random.default_rng(seed)
    index = np.arange(rows)
    entities = max(1, int(rows * ENTITIES_PER_ROW))
    moments = 1_704_067_200 + (index // entities) * 86_400 + rng.integers(0, 86_400, rows)
    columns: dict[str, np.ndarray] = {
        "entity_id": np.char.add("e", np.char.zfill((index % entities).astype(str), 8)),
        "event_timestamp": np.datetime_as_string(
            moments.astype("datetime64[s]"), unit="s", timezone="UTC"
        ),
    }
    for k in range(14):
        columns[f"f{k:02d}"] = np.round(rng.normal(0, 1, rows), 4).astype(str)
    columns["tenure_days"] = rng.integers(0, 3650, rows).astype(str)
    columns["orders"] = rng.integers(0, 100, rows).astype(str)
    for name, levels in (("country", 50), ("plan", 4), ("segment", 8)):
        columns[name] = np.char.add(name[:2], rng.integers(0, levels, rows).astype(str))
    columns["active"] = np.where(rng.random(rows) < 0.5, "true", "false")
    for name in list(columns)[2:]:
        columns[name] = np.where(rng.random(rows) < 0.05, "", columns[name])
    pacsv.write_csv(pa.table({name: pa.array(v) for name, v in columns.items()}), path)


def converge_cli_seconds(url: str, source: Path) -> float:
    """Wall time of `converge ingest` in a fresh process (start-up included)."""
    environment = {**os.environ, "DATABASE_URL": url, "CONVERGE_INGEST_DATABASE_URL": url}
    command = [str(Path(sys.executable).with_name("converge")), "ingest", str(source)]
    command += ["--entity-col", "entity_id", "--timestamp-col", "event_timestamp"]
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def in_process_seconds(url: str, source: Path) -> float:
    """Wall time of `ingest_file` in this process (no start-up, no cache invalidation)."""
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        second = partial(psycopg.connect, url, autocommit=True)
        ingest_file(conn, source, "entity_id", "event_timestamp", second_connection=second)
        return time.perf_counter() - started


def dump(url: str) -> bytes:
    """The stored rows as COPY text, in the order they were written."""
    buffer = io.BytesIO()
    with psycopg.connect(url) as conn, conn.cursor().copy(_COPY_OUT) as copy:
        for chunk in copy:
            buffer.write(chunk)
    return buffer.getvalue()


def copy_seconds(url: str, rendered: bytes, *, merge_beside: bool = False) -> float:
    """Wall time of one COPY of pre-rendered rows, committed.

    With `merge_beside`, the GIN index's pending list is merged on a second connection as
    converge's ingest does, and the time runs until it is merged.
    """
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        merger = PendingListMerger(partial(psycopg.connect, url)) if merge_beside else None
        try:
            with conn.transaction(), conn.cursor().copy(_COPY_IN) as copy:
                for start in range(0, len(rendered), 1 << 20):
                    copy.write(rendered[start : start + (1 << 20)])
        finally:
            if merger is not None:
                merger.close(merge_first=True)
        return time.perf_counter() - started


def index_mib(url: str) -> float:
    """Size of feature_store's GIN index on disk, free pages included."""
    with psycopg.connect(url) as conn:
        row = conn.execute(_INDEX_SIZE).fetchone()
    assert row is not None
    return int(row[0]) / 2**20


def checksum(url: str) -> tuple[int, int]:
    """Row count and an order-free hash of every stored row."""
    with psycopg.connect(url) as conn:
        row = conn.execute(_CHECKSUM).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@click.command()
@click.option(
    "--rows",
    "sizes",
    multiple=True,
    type=click.IntRange(min=10),
    default=[200_000, 1_000_000],
    show_default=True,
)
@click.option("--repeat", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--database-url",
    "server_url",
    default=None,
    help="Server for the scratch databases (default: DATABASE_URL or the embedded server).",
)
def command(sizes: tuple[int, ...], repeat: int, seed: int, server_url: str | None) -> None:
    """converge ingest (CLI and in process) vs one plain COPY of the same rows, same run."""
    server = server_url or database_url()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for rows in sizes:
            source = work / f"features-{rows}.csv"
            write_source(source, rows, seed)
            click.echo(f"{rows:,} rows x 20 features, CSV {source.stat().st_size / 2**20:.0f} MiB")
            for run in range(1, repeat + 1):
                _compare(server, source, rows, run)


def _compare(server: str, source: Path, rows: int, run: int) -> None:
    with scratch_database(server, "converge_bench_ingest") as ours:
        cli_s = converge_cli_seconds(ours.url, source)
        stored = checksum(ours.url)
        rendered = dump(ours.url)
        cli_index = index_mib(ours.url)
    with scratch_database(server, "converge_bench_ingest") as ours:
        in_process_s = in_process_seconds(ours.url, source)
        in_process_index = index_mib(ours.url)
    copies = {}
    for merge_beside in (False, True):
        with scratch_database(server, "converge_bench_copy") as plain:
            seconds = copy_seconds(plain.url, rendered, merge_beside=merge_beside)
            if checksum(plain.url) != stored or stored[0] != rows:
                raise click.ClickException("the COPY baseline and converge stored different rows")
            copies[merge_beside] = (seconds, index_mib(plain.url))
    (copy_s, copy_index), (merged_s, merged_index) = copies[False], copies[True]
    for label, seconds, index in (
        ("converge ingest (CLI)", cli_s, cli_index),
        ("ingest_file in process", in_process_s, in_process_index),
    ):
        ratio = copy_s / seconds
        verdict = (
            "met" if ratio >= TARGET_RATIO else "floor held" if ratio >= FLOOR_RATIO else "MISSED"
        )
        click.echo(
            f"  run {run}: {label:24s} {rows / seconds:9,.0f} rows/s ({seconds:6.2f} s, "
            f"index {index:4.0f} MiB); ratio {ratio:.2f} to the plain COPY (goal >= "
            f"{TARGET_RATIO}, floor {FLOOR_RATIO}: {verdict}), {merged_s / seconds:.2f} to the "
            "COPY with the same index merge"
        )
    for label, seconds, index in (
        ("plain COPY (baseline)", copy_s, copy_index),
        ("COPY, index merged beside", merged_s, merged_index),
    ):
        click.echo(
            f"  run {run}: {label:24s} {rows / seconds:9,.0f} rows/s ({seconds:6.2f} s, "
            f"index {index:4.0f} MiB)"
        )

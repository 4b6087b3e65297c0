"""The GIN benchmark at a tiny size: it runs end to end and leaves no scratch database behind."""

from __future__ import annotations

import re

import psycopg
from click.testing import CliRunner

from bench.gin import command, lateral_latest, load
from shared.feature_store.retrieval import latest
from tests.conftest import databases_named_like


def _scratch_databases(url: str) -> set[str]:
    return databases_named_like(url, "converge_bench_gin_%")


def test_bench_gin_smoke_run_prints_figures_and_drops_its_database(database_url: str) -> None:
    before = _scratch_databases(database_url)
    args = ["--rows", "2000", "--runs", "20", "--database-url", database_url]
    result = CliRunner().invoke(command, args)

    assert result.exit_code == 0, result.output
    assert re.search(r"jsonb_path_ops .*index/table \d\.\d{3}.*plan uses GIN: True", result.output)
    assert re.search(r"jsonb_ops .*index/table \d\.\d{3}", result.output)
    assert re.search(r"50 entities latest\(\) +p50 +\d+\.\d{3} ms", result.output)
    assert re.search(r"50 entities LATERAL, same decoding .*ratio \d+\.\d\dx", result.output)
    assert re.search(r"50 entities as-of read \(text\) .*decoding -?\d+% of the gap", result.output)
    name = re.search(r"scratch database (\S+)", result.output)
    assert name and name.group(1) not in _scratch_databases(database_url)
    assert _scratch_databases(database_url) <= before


def test_the_fair_baseline_reads_what_latest_reads(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        load(conn, 300, seed=3)
        entities = [f"e{i:07d}" for i in range(0, 30, 3)] + ["absent"]
        ours = latest(conn, entities)
        baseline = lateral_latest(conn, entities)
    assert len(ours) == 10
    assert baseline == {e: (row.event_timestamp, row.dynamic_features) for e, row in ours.items()}

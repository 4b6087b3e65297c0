"""The GIN benchmark at a tiny size: it runs end to end and leaves no scratch database behind."""

from __future__ import annotations

import re

from click.testing import CliRunner

from bench.gin import command
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
    assert re.search(r"50 entities LATERAL .*LATERAL/latest p50 \d+\.\d\dx", result.output)
    name = re.search(r"scratch database (\S+)", result.output)
    assert name and name.group(1) not in _scratch_databases(database_url)
    assert _scratch_databases(database_url) <= before

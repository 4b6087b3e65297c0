"""The ingest benchmark at a tiny size: both loads store the same rows, no scratch database left."""

from __future__ import annotations

import re

from click.testing import CliRunner

from bench.ingest import command
from tests.conftest import databases_named_like


def test_bench_ingest_smoke_run_prints_both_figures_and_the_ratio(database_url: str) -> None:
    before = databases_named_like(database_url, "converge_bench_%")
    args = ["--rows", "3000", "--repeat", "1", "--database-url", database_url]
    result = CliRunner().invoke(command, args)

    assert result.exit_code == 0, result.output
    for label in ("converge ingest \\(CLI\\)", "ingest_file in process"):
        line = rf"run 1: {label} +[\d,]+ rows/s .* COPY +[\d,]+ rows/s .* ratio \d+\.\d\d"
        assert re.search(line, result.output), result.output
    assert databases_named_like(database_url, "converge_bench_%") <= before

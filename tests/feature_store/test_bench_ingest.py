"""The ingest benchmark at a tiny size: both loads store the same rows, no scratch database left."""

from __future__ import annotations

import re

from click.testing import CliRunner

from bench.ingest import command
from tests.conftest import databases_named_like


def test_bench_ingest_smoke_run_prints_every_figure_and_the_ratios(database_url: str) -> None:
    before = databases_named_like(database_url, "converge_bench_%")
    args = ["--rows", "3000", "--repeat", "1", "--database-url", database_url]
    result = CliRunner().invoke(command, args)

    assert result.exit_code == 0, result.output
    figure = r"+[\d,]+ rows/s \( *\d+\.\d\d s, index +\d+ MiB\)"
    for label in ("converge ingest \\(CLI\\)", "ingest_file in process"):
        ratios = r"; ratio \d+\.\d\d to the plain COPY .*, \d+\.\d\d to the COPY with the same"
        assert re.search(rf"run 1: {label} {figure}{ratios}", result.output), result.output
    for label in ("plain COPY \\(baseline\\)", "COPY, index merged beside"):
        assert re.search(rf"run 1: {label} {figure}", result.output), result.output
    assert databases_named_like(database_url, "converge_bench_%") <= before

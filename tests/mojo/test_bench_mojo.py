"""Smoke test of `converge bench mojo` at a tiny size: real genmodel (warm and PredictCsv)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.mojo import command
from tests.mojo.parity import ParityCase


@pytest.mark.h2o
def test_bench_prints_figures_against_warm_genmodel(
    parity_cases: dict[str, ParityCase], genmodel_jar: Path
) -> None:
    mojo = parity_cases["stackedensemble-prostate_binomial"].mojo
    arguments = ["--mojo", str(mojo), "--genmodel-jar", str(genmodel_jar), "--rows", "2000"]
    arguments += ["--latency-runs", "100", "--warmup-seconds", "1"]
    result = CliRunner().invoke(command, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "genmodel warm, in process" in result.output
    assert "ratio converge in memory / warm genmodel" in result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["rows"] == 2000
    assert summary["warm_ratio"] > 0 and summary["ratio"] > 0 and summary["cpu_warm_ratio"] > 0
    assert "threads:" in result.output and summary["thread_speedup"] > 0

"""The serving benchmark at a tiny size: it runs end to end, prints every figure, and drops its
scratch database."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from bench.serve import command
from tests.conftest import databases_named_like
from tests.serving.conftest import TrainedMojo

FIGURE = r"\d+(\.\d+)?"


@pytest.mark.h2o
def test_bench_serve_smoke_run_prints_every_figure(
    database_url: str,
    redis_url: str,
    trained_mojos: list[TrainedMojo],
    settings_env: Callable[..., None],
) -> None:
    # The bench makes its own database on DATABASE_URL's server.
    settings_env(DATABASE_URL=database_url, REDIS_URL=redis_url)
    before = databases_named_like(database_url, "converge_bench_%")
    args = ["--mojo", str(trained_mojos[0].path), "--seconds", "1", "--paced-seconds", "1"]
    result = CliRunner().invoke(command, [*args, "--connections", "20"])

    assert result.exit_code == 0, result.output
    out = result.output
    assert "cores: " in out and "workers: 2" in out
    span = rf"{FIGURE}-{FIGURE} s"
    cold = rf"compiling the kernels {span} \(CPU {span}; kernels compiled: \[1\]\), with the"
    assert re.search(rf"cold start to /ready \(1 worker, empty NUMBA_CACHE_DIR.*{cold}", out)
    assert "; kernels compiled: [0]); shipped/compiling" in out and "(excludes: " in out
    assert re.search(rf"/v1/predict {FIGURE} req/s .*; ratio {FIGURE}", out)
    assert re.search(rf"/health {FIGURE} ms, /v1/predict {FIGURE} ms \(CPU ratio", out)
    assert re.search(rf"20 open connections .* non-2xx 0, .* p99 {FIGURE} ms", out)
    lag_lines = re.findall(rf"worker \d+: loop lag p99 {FIGURE} ms .* RSS {FIGURE} MB", out)
    assert len(lag_lines) == 2, out
    scenario = rf"{FIGURE} req/s, p50 {FIGURE} ms, p99 {FIGURE} ms, .* non-2xx 0; ratio {FIGURE}"
    scenario += rf" \(/health {FIGURE} req/s\)"
    assert re.search(rf"  warm Redis .*: {scenario}; sources: cache \d+%", out), out
    # Unknown entities are never cached: at least about half the lookups end at the default
    # (on a loaded machine a tripped breaker sends known ones there too).
    mixed = re.search(
        rf"  50/50 known/unknown .*: {scenario}; sources: .*default (?P<default>\d+)%", out
    )
    assert mixed and int(mixed["default"]) >= 30, out
    # After the keys were deleted, each request asked a new entity: none came from the cache.
    empty = re.search(rf"  empty Redis .*: {scenario}; sources: (?P<sources>.*)\n", out)
    assert empty and "cache" not in empty["sources"], out
    assert databases_named_like(database_url, "converge_bench_%") <= before

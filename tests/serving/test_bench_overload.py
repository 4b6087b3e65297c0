"""The overload benchmark at a tiny size: it runs end to end, prints every figure, and drops its
scratch database."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from bench.overload import command
from tests.conftest import databases_named_like
from tests.serving.conftest import glm_mojo

FIGURE = r"\d+(\.\d+)?"


def test_bench_overload_smoke_run_prints_every_figure(
    database_url: str, redis_url: str, tmp_path: Path, settings_env: Callable[..., None]
) -> None:
    # The bench makes its own database on DATABASE_URL's server.
    settings_env(DATABASE_URL=database_url, REDIS_URL=redis_url)
    before = databases_named_like(database_url, "converge_bench_%")
    args = ["--mojo", str(glm_mojo(tmp_path).path), "--seconds", "2", "--connections", "100"]
    result = CliRunner().invoke(command, [*args, "--timed", "10"])

    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "workers: 2, event loop asyncio; 100 connections for 2 s (wrk 90, timed by the bench 10)"
        in out
    )
    assert re.search(rf"wrk: {FIGURE} req/s, 503 share {FIGURE}% of \d+ answers, timeouts", out)
    assert re.search(rf"2xx p50 {FIGURE} ms, p99 {FIGURE} ms .*; 503 p50 ", out)
    assert re.search(r"timeouts in all: \d+ \(goal 0: (ok|MISSED)\)", out)
    for probe in ("probe port /live", "probe port /ready", "main port /health", "main port /ready"):
        assert re.search(rf"{probe} every 250 ms, 1 s timeout: p50 {FIGURE} ms.*failures \d+", out)
    assert re.search(
        rf"ceiling, a bare app .*: wrk {FIGURE} req/s, timeouts \d+, .* timed 503 p50 {FIGURE} ms, "
        rf"p99 {FIGURE} ms; serving app's 503 p99 / the ceiling's: ({FIGURE}x|n/a)",
        out,
    )
    assert databases_named_like(database_url, "converge_bench_%") <= before

"""`converge bench peers` at a tiny size: converge and one real MLflow peer, every figure printed.

The peers' virtualenv is built from bench/peers_env/requirements.lock on first use (minutes) and
cached under .converge/ by the lock's hash, so reruns start at once.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bench.peers import LOCK, command, compare, peer_venv, prepare
from tests.conftest import databases_named_like

FIGURE = r"\d+(\.\d+)?"


def test_the_peers_environment_is_cached_by_the_lock_hash() -> None:
    venv = peer_venv()
    assert venv.name.startswith("venv-") and (venv / "bin" / "python").exists()
    assert peer_venv(LOCK) == venv  # the second call reuses it


@pytest.mark.h2o
def test_bench_peers_smoke_run_prints_figures_and_ratios(
    database_url: str, redis_url: str, settings_env: Callable[..., None]
) -> None:
    settings_env(DATABASE_URL=database_url, REDIS_URL=redis_url)
    before = databases_named_like(database_url, "converge_peers_%")
    args = ["--ntrees", "5", "--seconds", "1", "--warmup-seconds", "1", "--connections", "2"]
    args += ["--batch-rows", "200", "--repeats", "2", "--automl-models", "0"]
    result = CliRunner().invoke(command, [*args, "--peer", "h2o-mlflow-flavor"])

    assert result.exit_code == 0, result.output
    out = result.output
    for name in ("converge", "h2o-mlflow-flavor"):
        line = rf"{name}: cold start {FIGURE} s, RSS {FIGURE} MB, single rows {FIGURE} req/s"
        assert re.search(line, out), out
    assert re.search(r"converge: .*errors 0\); 200-row batch: rows \d+ ms, oip \d+ ms", out), out
    assert re.search(rf"in-process scoring of the same 200 rows: {FIGURE} ms", out), out
    # One java process per request: on a loaded machine not one may answer within the 1 s run.
    ratios = rf"throughput x{FIGURE}, .* batch|no ratio, h2o-mlflow-flavor answered no request"
    assert re.search(rf"converge / h2o-mlflow-flavor: ({ratios})", out), out
    assert re.search(r"^== gbm: GBM_model_\S+ \(gbm\)$", out, re.MULTILINE), out
    assert databases_named_like(database_url, "converge_peers_%") <= before


@pytest.mark.h2o
def test_a_peer_that_cannot_serve_the_model_is_named_and_left_out(
    database_url: str,
    redis_url: str,
    settings_env: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings_env(DATABASE_URL=database_url, REDIS_URL=redis_url)
    venv = peer_venv()
    [model] = prepare(venv, tmp_path, ntrees=3, automl_models=0)
    # What h2o_mlflow_flavor saved is gone: `mlflow models serve` exits at start.
    shutil.rmtree(model.mojo.parent / "h2o-mlflow-flavor")
    load = {"connections": 2, "seconds": 1, "warmup": 0, "repeats": 1}
    compare(model, venv, ("h2o-mlflow-flavor",), load, batch_rows=20)

    out = capsys.readouterr().out
    assert re.search(rf"^converge: cold start {FIGURE} s", out, re.MULTILINE), out
    assert re.search(r"^h2o-mlflow-flavor: cannot serve this model: .* exited early", out, re.M)
    assert "converge / h2o-mlflow-flavor" not in out


def test_a_lock_disagreeing_with_versions_env_is_refused(tmp_path: Path) -> None:
    stale = tmp_path / "requirements.lock"
    stale.write_text(LOCK.read_text().replace("\nmlflow==3.17.2 ", "\nmlflow==3.16.0 "))
    with pytest.raises(click.ClickException, match=r"does not pin mlflow==3.17.2"):
        peer_venv(stale)

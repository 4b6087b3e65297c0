"""What serving relies on: no JVM in the process, thread safety, and a read-only install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.mojo import load_mojo
from tests.mojo.parity import ParityCase

REPOSITORY = Path(__file__).resolve().parents[2]

SCORE_AND_INSPECT = """
import json, sys
import pandas as pd
import psutil
from shared.mojo import load_mojo

results = {}
for mojo, scoring in json.loads(sys.argv[1]):
    frame = pd.read_csv(scoring, dtype=str, keep_default_na=False)
    results[mojo] = load_mojo(mojo).predict(frame).iloc[:, -1].tolist()
bridges = ("py4j", "jpype", "jpype1", "jnius", "h2o", "pyspark")
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in bridges),
    "java_children": [p.name() for p in psutil.Process().children(recursive=True)],
    "results": results,
}))
"""


def _run_isolated(cases: list[ParityCase], env: dict[str, str], cwd: Path) -> dict[str, object]:
    argument = json.dumps([[str(c.mojo), str(c.scoring_csv)] for c in cases])
    done = subprocess.run(
        [sys.executable, "-c", SCORE_AND_INSPECT, argument],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.h2o
def test_scoring_process_has_no_jvm(parity_cases: dict[str, ParityCase], tmp_path: Path) -> None:
    cases = [
        parity_cases[n] for n in ("xgboost-prostate_binomial", "stackedensemble-iris_multinomial")
    ]
    # Without java on PATH or JAVA_HOME, any attempt to start a JVM would fail the run.
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "H2O_URL")}
    env["PATH"] = str(Path(sys.executable).parent)
    env["PYTHONPATH"] = str(REPOSITORY)
    outcome = _run_isolated(cases, env, tmp_path)
    assert outcome["modules"] == []
    assert outcome["java_children"] == []
    results = outcome["results"]
    assert isinstance(results, dict) and len(results) == 2


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A directory an unprivileged user can reach (pytest's tmp_path sits under a 0700 parent)."""
    path = Path(tempfile.mkdtemp(prefix="converge-mojo-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.h2o
@pytest.mark.parametrize("home_writable", [True, False])
def test_read_only_install_scores(
    home_writable: bool, parity_cases: dict[str, ParityCase], world_readable_dir: Path
) -> None:
    """An unprivileged user scores from a read-only copy of the package (no cache next to it)."""
    tmp_path = world_readable_dir
    install = tmp_path / "install"
    shutil.copytree(
        REPOSITORY / "shared", install / "shared", ignore=shutil.ignore_patterns("__pycache__")
    )
    home = tmp_path / "home"
    home.mkdir()
    case = parity_cases["gbm-synthetic_binomial"]
    readable = tmp_path / "case"
    readable.mkdir()
    mojo = Path(shutil.copy(case.mojo, readable))
    scoring = Path(shutil.copy(case.scoring_csv, readable))
    for path in (tmp_path, readable, mojo, scoring, *install.rglob("*"), install):
        path.chmod(0o755 if path.is_dir() else 0o644)
    if home_writable:
        os.chown(home, 65534, 65534)
    argument = json.dumps([[str(mojo), str(scoring)]])
    env = {"HOME": str(home), "PYTHONPATH": str(install), "PATH": os.environ["PATH"]}
    done = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            SCORE_AND_INSPECT,
            argument,
        ],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not list(install.rglob("*.nbi")), "nothing may be written into the install"
    scored = json.loads(done.stdout.strip().splitlines()[-1])["results"][str(mojo)]
    expected = load_mojo(case.mojo).predict(
        pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    )
    assert np.allclose(scored, expected.iloc[:, -1].to_numpy(dtype=float), rtol=0, atol=0)
    cached = list(home.rglob("*.nbi"))
    if home_writable:
        assert cached, "numba should cache in the user's cache directory"
    else:
        assert "compiling in memory" in done.stderr


@pytest.mark.h2o
@pytest.mark.parametrize(
    "name",
    [
        "gbm-synthetic_multinomial",
        "xgboost-synthetic_regression",
        "stackedensemble-prostate_binomial",
    ],
)
def test_concurrent_micro_batches_match_sequential_scoring(
    name: str, parity_cases: dict[str, ParityCase]
) -> None:
    case = parity_cases[name]
    model = load_mojo(case.mojo)
    frame = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(0)
    batches = [
        frame.sample(int(rng.integers(1, 257)), replace=True, random_state=i) for i in range(64)
    ]
    sequential = [model.predict(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(model.predict, batches))
    for alone, together in zip(sequential, concurrent, strict=True):
        pd.testing.assert_frame_equal(alone, together, check_exact=True)

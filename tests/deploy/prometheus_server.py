"""A real Prometheus server (Debian's /usr/bin/prometheus) on loopback, for the alerting tests.

Each server has its own port, config and data directory, scrapes and evaluates every second, and
loads converge's rules file as it is committed; it is stopped when its context ends.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from shared.net import free_port
from shared.processes import stop_process
from shared.versions import REPOSITORY_ROOT

RULES = REPOSITORY_ROOT / "deploy" / "prometheus" / "converge-rules.yml"
JOB = "converge-serving"


class Prometheus:
    """The HTTP API of one running server."""

    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now (a list of {metric, value})."""
        answer = httpx.get(f"{self.base}/api/v1/query", params={"query": expr}, timeout=5)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts called `name`."""
        answer = httpx.get(f"{self.base}/api/v1/alerts", timeout=5)
        answer.raise_for_status()
        return [a for a in answer.json()["data"]["alerts"] if a["labels"]["alertname"] == name]

    def wait_for_alert(
        self, name: str, state: str, timeout_s: float, **labels: str
    ) -> dict[str, Any]:
        """The first alert `name` in `state` whose labels include `labels`, polled until then."""
        deadline = time.monotonic() + timeout_s
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen = self.alerts(name)
            for alert in seen:
                if alert["state"] == state and labels.items() <= alert["labels"].items():
                    return alert
            time.sleep(0.5)
        raise AssertionError(f"no {state} {name}{labels} within {timeout_s:.0f} s; active: {seen}")

    def wait_for_series(self, expr: str, timeout_s: float) -> list[dict[str, Any]]:
        """The non-empty result of `expr`, polled until it has one."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"{expr} stayed empty for {timeout_s:.0f} s")

    def wait_until_empty(self, expr: str, timeout_s: float) -> None:
        """Poll until `expr` has no result (a series gone from the scrapes is marked stale)."""
        deadline = time.monotonic() + timeout_s
        while self.query(expr):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} still has {self.query(expr)} after {timeout_s:.0f} s")
            time.sleep(0.5)


@contextlib.contextmanager
def prometheus_server(target: str, workdir: Path) -> Iterator[Prometheus]:
    """Prometheus scraping `target` (host:port) every second with converge's rules; its API."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
    }
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [
        "prometheus",
        f"--config.file={config_file}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = workdir / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, process, log)
            yield Prometheus(base)
        finally:
            stop_process(process, grace_s=15)


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"prometheus not ready after 30 s:\n{log.read_text()}")

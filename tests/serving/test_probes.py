"""The probe port answers off the event loop, and excess scoring requests are refused in the
protocol: real app, real uvicorn workers, a loop blocked on purpose and wrk at 2000 connections."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.overload import WRK_OVERLOAD, overload, percentile, report
from bench.serving_setup import raise_file_limit
from serving.app import probe_port_while_running
from serving.config import ServingSettings
from serving.launch import HTTP_PROTOCOL, app_process, wait_until_ready
from serving.probes import LoopHeartbeat, Probes, ProbeServer
from serving.prometheus_text import sample_value
from shared.net import free_port
from tests.serving.conftest import Registry, serving_env
from tests.serving.server import REPO

PROBE_BUDGET_S = 1.0  # what a kubelet with timeoutSeconds: 1 allows
EVENT_LOOP = ServingSettings.model_fields["event_loop"].default  # as `converge serve` runs it


@contextlib.contextmanager
def workers(env: dict[str, str], count: int, log: Path) -> Iterator[tuple[int, int]]:
    """tests.serving.stalling_app under uvicorn as `converge serve` runs it; (port, probe port)."""
    port, probe_port = free_port(), free_port()
    argv = [sys.executable, "-m", "uvicorn", "tests.serving.stalling_app:app", "--host"]
    argv += ["127.0.0.1", "--port", str(port), "--workers", str(count), "--loop", EVENT_LOOP]
    argv += ["--http", HTTP_PROTOCOL, "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    env["CONVERGE_SERVING_PROBE_PORT"] = str(probe_port)
    with log.open("wb") as out, app_process(argv, env, out, REPO) as process:
        try:
            wait_until_ready(f"http://127.0.0.1:{port}", process, timeout_s=240, poll_s=0.1)
            _every_worker_ready(probe_port, count, timeout_s=240)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from exc
        yield port, probe_port


def _every_worker_ready(probe_port: int, count: int, timeout_s: float) -> None:
    """Each new connection reaches a worker at random (SO_REUSEPORT): 20 ready answers in a row
    per worker leave about a one in a million chance that one of 2 is still starting."""
    deadline, in_a_row = time.monotonic() + timeout_s, 0
    while in_a_row < 20 * count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the probe port did not say ready {20 * count} times in a row")
        try:
            ready = ask(probe_port, "GET", "/ready", PROBE_BUDGET_S)[0] == 200
        except OSError:
            ready = False
        in_a_row = in_a_row + 1 if ready else 0
        if not ready:
            time.sleep(0.1)


def _stall_began(probe_port: int) -> float:
    """When (time.monotonic()) the loop stopped stamping its heartbeat, seen on the probe port."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, body = ask(probe_port, "GET", "/live", PROBE_BUDGET_S)
        age_s = body.get("loop_heartbeat_age_s")
        if status == 200 and isinstance(age_s, float) and age_s > 0.3:
            return time.monotonic() - age_s
        time.sleep(0.05)
    raise AssertionError("the stall request never blocked the loop")


def ask(port: int, method: str, path: str, timeout_s: float) -> tuple[int, dict[str, object]]:
    """One request on a new connection: (status, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def in_background(port: int, path: str) -> threading.Thread:
    """POST `path` from a thread (started)."""
    thread = threading.Thread(target=ask, args=(port, "POST", path, 30), daemon=True)
    thread.start()
    return thread


def test_probe_port_answers_while_the_event_loop_is_blocked(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    env = serving_env(registry, redis_url, tmp_path, CONVERGE_SERVING_PROBE_MAX_LOOP_STALL_S="1")
    with workers(env, 1, tmp_path / "app.log") as (port, probe_port):
        assert ask(probe_port, "GET", "/live", PROBE_BUDGET_S)[0] == 200
        status, ready = ask(probe_port, "GET", "/ready", PROBE_BUDGET_S)
        assert status == 200 and ready["model"]["model_version"] == glm_champion  # type: ignore[index]

        stall = in_background(port, "/v1/stall?seconds=5")
        stalled_at = _stall_began(probe_port)
        # The main port cannot answer: this is the loop being blocked, not a slow machine.
        with pytest.raises(TimeoutError):
            ask(port, "GET", "/health", PROBE_BUDGET_S)
        answers = []
        while time.monotonic() - stalled_at < 4:
            for path in ("/live", "/ready"):
                started = time.monotonic()
                status, body = ask(probe_port, "GET", path, PROBE_BUDGET_S)
                answers.append((path, started - stalled_at, status, body))
            time.sleep(0.2)
        stall.join()
        # Answered within the budget during the whole stall (else ask raised), and past the
        # 1 s limit both say why the worker is neither live nor ready.
        late = [answer for answer in answers if answer[1] > 1.5]
        assert late and all(status == 503 for _, _, status, _ in late), answers
        assert all("event loop stalled for" in str(body["reason"]) for *_, body in late)
        assert {path for path, *_ in late} == {"/live", "/ready"}
        # The loop is back: live and ready again.
        deadline = time.monotonic() + 5
        while ask(probe_port, "GET", "/live", PROBE_BUDGET_S)[0] != 200:
            assert time.monotonic() < deadline, "the probe port never saw the loop come back"
            time.sleep(0.1)
        assert ask(probe_port, "GET", "/ready", PROBE_BUDGET_S)[0] == 200
        assert ask(probe_port, "GET", "/elsewhere", PROBE_BUDGET_S)[0] == 404


def test_excess_requests_are_refused_before_the_app_and_the_connection_lives_on(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    env = serving_env(registry, redis_url, tmp_path, CONVERGE_SERVING_MAX_IN_FLIGHT="1")
    env["CONVERGE_SERVING_RETRY_AFTER_S"] = "2"
    with workers(env, 1, tmp_path / "app.log") as (port, _):
        held = in_background(port, "/v1/hold?seconds=5")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        body = json.dumps({"features": {"colour": "red", "size": 1}})
        headers = {"content-type": "application/json"}
        # Nothing else on /v1/ meanwhile: a request of ours would take the slot from the hold.
        time.sleep(1)
        conn.request("POST", "/v1/predict", body=body, headers=headers)
        refused = conn.getresponse()
        assert refused.status == 503 and refused.getheader("retry-after") == "2"
        assert "more than 1 requests in flight" in json.loads(refused.read())["detail"]
        # The refused body was consumed: the same connection serves the next requests.
        conn.request("GET", "/health")
        health = conn.getresponse()
        assert health.status == 200 and health.read()
        held.join()
        conn.request("POST", "/v1/predict", body=body, headers=headers)
        scored = conn.getresponse()
        assert scored.status == 200, scored.read()
        scored.read()
        conn.close()
        metrics = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        metrics.request("GET", "/metrics")
        text = metrics.getresponse().read().decode()
    assert sample_value(text, "converge_requests_shed_total", route="/v1/") == 1.0
    # Refused in the protocol: the app (and its latency middleware) never saw the request.
    assert 'status="503"' not in text


def test_probes_and_refusals_stay_fast_at_2000_connections_on_2_workers(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    env = serving_env(registry, redis_url, tmp_path, CONVERGE_SERVING_MAX_IN_FLIGHT="8")
    script = tmp_path / "overload.lua"
    script.write_text(WRK_OVERLOAD.replace("__ENTITIES__", "100"))
    raise_file_limit()
    with workers(env, 2, tmp_path / "app.log") as (port, probe_port):
        run = overload(f"http://127.0.0.1:{port}", probe_port, 2000, 50, 6, script)
    print("\n".join(report(run, 2000, 6, 2, EVENT_LOOP)))  # the figures, for a failing run's log
    for name in ("probe port /live", "probe port /ready"):
        timings = run.probes[name]
        assert not timings.failures, (name, timings.failures)
        assert len(timings.latencies) >= 12 and max(timings.latencies) < PROBE_BUDGET_S, name
    assert run.wrk.refused > run.wrk.answered / 2, run.wrk  # the overload happened
    assert run.wrk.timeouts == 0 and run.timed.timeouts == 0, run.wrk
    refusals = run.timed.by_status[503]
    # Margins for a shared 2-core machine; `converge bench overload` holds the 100 ms goal.
    assert percentile(refusals, 0.5) < 0.25 and percentile(refusals, 0.99) < PROBE_BUDGET_S


def test_probe_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        probes = Probes(LoopHeartbeat(0.1), 1.0, lambda: (200, {"ready": True}))
        with pytest.raises(OSError, match=f"cannot bind the probe port 127.0.0.1:{port}"):
            ProbeServer(probes, "127.0.0.1", port)


async def test_probe_port_is_live_and_says_starting_before_the_champion_is_loaded() -> None:
    probe_port = free_port()
    async with probe_port_while_running(ServingSettings(probe_port=probe_port), lambda: None):
        status, body = await asyncio.to_thread(ask, probe_port, "GET", "/ready", PROBE_BUDGET_S)
        assert status == 503 and body == {
            "ready": False,
            "reason": "starting: the champion is being loaded",
        }
        live = await asyncio.to_thread(ask, probe_port, "GET", "/live", PROBE_BUDGET_S)
        assert live[0] == 200
    with pytest.raises(ConnectionRefusedError):  # stopped with the app
        ask(probe_port, "GET", "/live", PROBE_BUDGET_S)

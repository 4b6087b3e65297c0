"""Liveness and readiness on a port of their own, answered by a thread, not by the event loop.

Under overload every worker's event loop has a queue of requests in front of any probe that comes
through the main port: a probe with a 1-2 s timeout then fails and Kubernetes restarts a healthy
pod in the middle of a spike. A small thread server answers here instead: it needs the GIL for
microseconds, which the loop thread hands over every switch interval (5 ms) however busy it is.

What the probes report is still the loop's health: a task on the loop stamps a heartbeat, and a
loop that has not stamped it for `max_stall_s` is neither live nor ready. Each worker binds the
probe port with SO_REUSEPORT (as the workers share the main port): a probe reaches one worker.
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

log = logging.getLogger(__name__)

# (HTTP status, JSON body) of one probe.
ProbeAnswer = tuple[int, dict[str, Any]]
LIVE_PATH, READY_PATH = "/live", "/ready"


class LoopHeartbeat:
    """The last time (time.monotonic()) the event loop ran the heartbeat task."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self.last = time.monotonic()

    async def run(self) -> None:
        """Forever: stamp the time, yield to the loop for `interval_s`."""
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(self._interval_s)

    def age_s(self) -> float:
        """Seconds since the loop last ran the heartbeat task."""
        return time.monotonic() - self.last


class Probes:
    """The answers to /live and /ready, computed from the heartbeat and the serving state."""

    def __init__(
        self,
        heartbeat: LoopHeartbeat,
        max_stall_s: float,
        readiness: Callable[[], ProbeAnswer],
    ) -> None:
        self._heartbeat = heartbeat
        self._max_stall_s = max_stall_s
        self._readiness = readiness

    def _stalled(self) -> str | None:
        age_s = self._heartbeat.age_s()
        if age_s <= self._max_stall_s:
            return None
        return f"event loop stalled for {age_s:.1f} s (limit {self._max_stall_s:g} s)"

    def live(self) -> ProbeAnswer:
        """200 while the event loop makes progress, else 503 saying for how long it has not."""
        stalled = self._stalled()
        if stalled is not None:
            return 503, {"live": False, "reason": stalled}
        return 200, {"live": True, "loop_heartbeat_age_s": round(self._heartbeat.age_s(), 3)}

    def ready(self) -> ProbeAnswer:
        """The app's readiness (/ready), and not ready while the event loop is stalled."""
        status, body = self._readiness()
        stalled = self._stalled()
        if stalled is not None:
            return 503, {**body, "ready": False, "reason": stalled}
        return status, body


class _ReusePortServer(http.server.ThreadingHTTPServer):
    """A thread per probe; SO_REUSEPORT so that every worker can bind the same probe port."""

    allow_reuse_port = True
    daemon_threads = True


def _handler(probes: Probes) -> type[http.server.BaseHTTPRequestHandler]:
    routes: dict[str, Callable[[], ProbeAnswer]] = {
        LIVE_PATH: probes.live,
        READY_PATH: probes.ready,
    }

    class ProbeHandler(http.server.BaseHTTPRequestHandler):
        """GET /live and GET /ready; 404 for anything else."""

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, body = route() if route else (404, {"detail": "probe routes: /live, /ready"})
            payload = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes are periodic: one access line each would drown the log."""

    return ProbeHandler


class ProbeServer:
    """`probes` served on host:port by a daemon thread until `stop()`."""

    def __init__(self, probes: Probes, host: str, port: int) -> None:
        try:
            self._server = _ReusePortServer((host, port), _handler(probes))
        except OSError as exc:
            raise OSError(f"cannot bind the probe port {host}:{port}: {exc}") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="probe-server", daemon=True
        )

    def start(self) -> None:
        """Start answering probes."""
        self._thread.start()
        log.info("probes on %s:%s (/live, /ready)", *self._server.server_address[:2])

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._server.shutdown()
        self._server.server_close()

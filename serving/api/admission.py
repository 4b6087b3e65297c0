"""Admission control: a bounded number of scoring requests in flight, the rest refused at once.

Past saturation a queue only adds latency: every waiting request times out in Redis, opens the
breaker and moves the load to PostgreSQL (an overload cascade). Refusing the excess with 503 and
`Retry-After`, before any work is done for it, keeps the admitted requests fast and tells clients
(and load balancers) to go elsewhere or back off.

`Admission` holds the count and the rule; the ASGI middleware admits (counts) requests, and
`serving.api.refusing_protocol` refuses the excess as soon as its headers are parsed, before
uvicorn creates a task for it (the cheap path that keeps refusals fast under overload).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class Admission:
    """At most `max_in_flight` requests to paths under `prefixes` in flight (one per worker).

    `on_shed` is called with the prefix of each refused request's path.
    """

    def __init__(
        self,
        *,
        max_in_flight: int,
        retry_after_s: int,
        prefixes: tuple[str, ...],
        on_shed: Callable[[str], None],
    ) -> None:
        self.max_in_flight = max_in_flight
        self.prefixes = prefixes
        self.in_flight = 0
        self._on_shed = on_shed
        self.body = json.dumps(
            {"detail": f"overloaded: more than {max_in_flight} requests in flight; retry later"}
        ).encode()
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
        ]

    def guards(self, path: str) -> bool:
        """Whether requests to `path` are subject to admission."""
        return path.startswith(self.prefixes)

    def full(self) -> bool:
        """Whether a request to a guarded path would be refused now."""
        return self.in_flight >= self.max_in_flight

    def shed(self, path: str) -> None:
        """Count one refusal of a request to `path` (a guarded path)."""
        # The prefix, not the raw path, so unknown paths cannot grow a metric's label set.
        self._on_shed(next(p for p in self.prefixes if path.startswith(p)))


class AdmissionMiddleware:
    """Admits requests to guarded paths while `admission` is not full; 503 beyond that."""

    def __init__(self, app: ASGIApp, *, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet answered."""
        return self.admission.in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        admission = self.admission
        if scope["type"] != "http" or not admission.guards(scope["path"]):
            await self.app(scope, receive, send)
            return
        # One event loop per worker and no await between the test and the increment: no lock.
        if admission.full():
            admission.shed(scope["path"])
            await send({"type": "http.response.start", "status": 503, "headers": admission.headers})
            await send({"type": "http.response.body", "body": admission.body})
            return
        admission.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            admission.in_flight -= 1

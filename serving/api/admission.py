"""Admission control: a bounded number of scoring requests in flight, the rest refused at once.

Past saturation a queue only adds latency: every waiting request times out in Redis, opens the
breaker and moves the load to PostgreSQL (an overload cascade). Refusing the excess with 503 and
`Retry-After`, before any work is done for it, keeps the admitted requests fast and tells clients
(and load balancers) to go elsewhere or back off.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class AdmissionMiddleware:
    """Admits at most `max_in_flight` requests to paths under `prefixes`; 503 beyond that.

    `on_shed` is called with the prefix of each refused request's path.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        retry_after_s: int,
        prefixes: tuple[str, ...],
        on_shed: Callable[[str], None],
    ) -> None:
        self.app = app
        self._max_in_flight = max_in_flight
        self._prefixes = prefixes
        self._on_shed = on_shed
        self._in_flight = 0
        self._body = json.dumps(
            {"detail": f"overloaded: more than {max_in_flight} requests in flight; retry later"}
        ).encode()
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
        ]

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet answered."""
        return self._in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefixes):
            await self.app(scope, receive, send)
            return
        # One event loop per worker and no await between the test and the increment: no lock.
        if self._in_flight >= self._max_in_flight:
            # The prefix, not the raw path, so unknown paths cannot grow a metric's label set.
            self._on_shed(next(p for p in self._prefixes if scope["path"].startswith(p)))
            await send({"type": "http.response.start", "status": 503, "headers": self._headers})
            await send({"type": "http.response.body", "body": self._body})
            return
        self._in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight -= 1

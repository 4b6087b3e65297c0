"""Pure ASGI middleware recording request latency by route template (bounded label values)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import ServingMetrics


class LatencyMiddleware:
    """Observes every HTTP request into converge_request_latency_seconds."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            # The template, not the raw path, so unknown paths cannot grow the label set.
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.request_latency.labels(label, scope["method"], str(status)).observe(
                time.perf_counter() - started
            )

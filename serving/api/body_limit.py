"""Bounded request bodies: a body over the limit gets 413 before any of it is parsed.

Pure ASGI: a declared Content-Length over the limit is refused before the body is read; a body
sent without one (chunked) is counted as it arrives and refused the moment it passes the limit, so
a worker never buffers more than the limit of any request.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLargeError(Exception):
    """A chunked body passed the limit while it was being read."""


class BodyLimitMiddleware:
    """Answers 413 to any HTTP request whose body is larger than `max_bytes`."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, setting: str = "CONVERGE_SERVING_MAX_BODY_BYTES"
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting  # named in the 413, so the client knows which limit it hit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes ({self.setting})"
        body = orjson.dumps({"detail": detail})
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

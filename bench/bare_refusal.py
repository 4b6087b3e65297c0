"""A bare ASGI app, `bench overload`'s ceiling: GET answers 200, every POST the serving 503 at once.

Run under the same uvicorn workers, event loop and connections as the serving app, it shows the
fastest answers a Python worker gives on this machine under that load, with no work behind them.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from serving.api.admission import Admission

# The serving app's own refusal: same body and headers (Retry-After included).
REFUSAL = Admission(max_in_flight=0, retry_after_s=1, prefixes=("/",), on_shed=lambda _: None)
READY = b'{"ready": true}'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """200 to GET (the readiness poll), the serving app's 503 to anything else."""
    if scope["type"] != "http":  # lifespan: nothing to start or stop
        return
    if scope["method"] == "GET":
        status, headers, body = 200, [(b"content-length", str(len(READY)).encode())], READY
    else:
        status, headers, body = 503, REFUSAL.headers, REFUSAL.body
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

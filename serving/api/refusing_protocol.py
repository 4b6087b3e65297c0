"""uvicorn's httptools protocol, refusing excess scoring requests as soon as their headers parse.

Under overload most requests are refused; through the ASGI path each refusal still costs a task,
a request cycle, a scope, the app's middleware chain and a latency observation: CPU the event
loop spends while every other connection waits for its turn. Measured with 2000 connections on
2 workers (docs/serving.md), that made refusals themselves slow. Here a request to a guarded path
that `Admission` would refuse gets the same 503 (JSON `detail`, `Retry-After`) written straight to
the socket from the parser callback; its body, if any, is discarded as it is parsed.

Only a connection with no response in progress takes this path (a pipelined request must be
answered in order); every other request still reaches `AdmissionMiddleware`, which stays the
authority on admission. Selected by `converge serve` (`http=` this class). It relies on the
parent's internals (`cycle`, `parser`, `url`, `on_response_complete`): tests/serving/test_probes.py
drives it over real sockets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from serving.api.admission import Admission


def _admission_of(app: Any) -> Admission | None:
    """The `Admission` on `app.state`, looking through wrappers (uvicorn's proxy headers...)."""
    while app is not None:
        admission = getattr(getattr(app, "state", None), "admission", None)
        if isinstance(admission, Admission):
            return admission
        app = getattr(app, "app", None)
    return None


class RefusingHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that answers 503 without calling the app when admission is full."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._admission = _admission_of(self.app)
        self._refused = False
        self._response: bytes | None = None
        if self._admission is not None:
            head = b"HTTP/1.1 503 Service Unavailable\r\n" + b"".join(
                name + b": " + value + b"\r\n" for name, value in self._admission.headers
            )
            self._response = head + b"\r\n" + self._admission.body

    def on_message_begin(self) -> None:
        """A new request: not refused (yet)."""
        self._refused = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        """Refuse here when admission is full, the path is guarded and nothing is in progress."""
        admission = self._admission
        if (
            admission is not None
            and admission.full()
            and (self.cycle is None or self.cycle.response_complete)
            and not self.parser.should_upgrade()
        ):
            path = httptools.parse_url(self.url).path.decode("latin-1")
            if admission.guards(path):
                self._refuse(admission, path)
                return
        super().on_headers_complete()

    def _refuse(self, admission: Admission, path: str) -> None:
        assert self._response is not None  # built whenever there is an admission
        admission.shed(path)
        self._refused = True
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        if keep_alive:
            self.transport.write(self._response)
            self.on_response_complete()  # re-arms the keep-alive timeout, as after any response
        else:
            self.transport.write(
                self._response.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
            )
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        """A refused request's body is dropped as it arrives."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """Nothing is waiting for a refused request's end."""
        if not self._refused:
            super().on_message_complete()

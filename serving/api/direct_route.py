"""A FastAPI route class for hot endpoints that parse their request and render their response.

FastAPI's request handler solves dependencies, parses query parameters and body fields, and
re-validates the return value against `response_model` on every request. An endpoint that takes
the raw `Request` and returns a ready `Response` needs none of that: `DirectRoute` keeps what
FastAPI builds from the route's declaration (the OpenAPI document, exception handlers, the body
size limit) and calls the endpoint directly at request time. FastAPI documents custom route
classes (`APIRouter(route_class=...)` overriding `get_route_handler`) as the way to do this.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """An APIRoute whose endpoint is `async def endpoint(request: Request) -> Response`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        _check_direct(path, endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Endpoint:
        """The endpoint itself: no dependency solving, no response re-validation."""
        endpoint: Endpoint = self.endpoint
        return endpoint


def _check_direct(path: str, endpoint: Callable[..., Any]) -> None:
    """Refuse an endpoint that needs FastAPI to feed it: it would get the wrong arguments."""
    parameters = list(inspect.signature(endpoint, eval_str=True).parameters.values())
    takes_request = len(parameters) == 1 and parameters[0].annotation is Request
    if not (inspect.iscoroutinefunction(endpoint) and takes_request):
        raise TypeError(
            f"DirectRoute {path}: the endpoint must be `async def f(request: Request) -> "
            f"Response`, not {endpoint.__qualname__}{inspect.signature(endpoint)}"
        )

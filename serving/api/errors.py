"""422 responses that name the field and never echo the rejected value.

FastAPI's default handler echoes the input, which fails to render for NaN/Infinity (a 500 for a
bad request) and would copy arbitrary client payloads into responses and logs.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """A 422 listing each error's location, message and type."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)

"""Two body limits: batch routes (many rows per request) get a larger one than the rest."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.api.body_limit import BodyLimitMiddleware


def is_batch_path(path: str) -> bool:
    """Whether `path` is a batch route: inline rows, or the Open Inference Protocol's infer."""
    return path == "/v1/predict/batch" or (
        path.startswith("/v2/models/") and path.endswith("/infer")
    )


class BatchAwareBodyLimit:
    """`BodyLimitMiddleware` with `batch_max_bytes` on batch routes, `max_bytes` elsewhere."""

    def __init__(self, app: ASGIApp, max_bytes: int, batch_max_bytes: int) -> None:
        self.default = BodyLimitMiddleware(app, max_bytes)
        self.batch = BodyLimitMiddleware(
            app, batch_max_bytes, setting="CONVERGE_SERVING_BATCH_MAX_BODY_BYTES"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        batch = scope["type"] == "http" and is_batch_path(scope["path"])
        await (self.batch if batch else self.default)(scope, receive, send)

"""The real serving app plus two test routes that misbehave on purpose, for the probe tests.

`POST /v1/stall?seconds=` blocks the event loop (a synchronous call to a slow dependency: the bug
the probe port must survive); `POST /v1/hold?seconds=` holds an admission slot without blocking.
"""

from __future__ import annotations

import asyncio
import time

from serving.app import create_app

app = create_app()


@app.post("/v1/stall")
async def stall(seconds: float) -> dict[str, float]:
    """Block the event loop for `seconds`."""
    time.sleep(seconds)  # noqa: ASYNC251 - on purpose: what a blocking dependency call does
    return {"stalled_s": seconds}


@app.post("/v1/hold")
async def hold(seconds: float) -> dict[str, float]:
    """Keep one admission slot for `seconds`, yielding to the loop."""
    await asyncio.sleep(seconds)
    return {"held_s": seconds}

"""Run a serving app in-process (lifespan included) and talk to it over ASGI with httpx."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from serving.app import create_app
from serving.config import ServingSettings
from serving.prometheus_text import sample_value
from serving.state import ServingState
from shared.settings import Settings


@contextlib.asynccontextmanager
async def running_app(
    serving_settings: ServingSettings, settings: Settings
) -> AsyncIterator[tuple[ServingState, httpx.AsyncClient]]:
    """The app started (model loaded, tasks running), its state, and a client; stopped on exit."""
    app: FastAPI = create_app(serving_settings, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            yield app.state.serving, client


metric = sample_value  # the tests read /metrics the way the scripts do

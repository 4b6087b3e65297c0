"""Admission control: requests past the in-flight bound are refused at once, and slots come back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from serving.api.admission import Admission, AdmissionMiddleware
from tests.serving.client import metric, running_app
from tests.serving.conftest import PATIENT, Registry, serving_settings, settings_for, write_features


def _held_app(release: asyncio.Event, entered: asyncio.Queue[str]) -> Starlette:
    async def slow(request: Request) -> PlainTextResponse:
        await entered.put(request.url.path)
        await release.wait()
        if request.query_params.get("fail"):
            raise RuntimeError("handler failed")
        return PlainTextResponse("scored")

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/v1/slow", slow), Route("/health", health)])


async def test_excess_requests_get_503_and_slots_are_returned() -> None:
    release, entered = asyncio.Event(), asyncio.Queue[str]()
    shed: list[str] = []
    admission = Admission(max_in_flight=2, retry_after_s=3, prefixes=("/v1/",), on_shed=shed.append)
    guarded = AdmissionMiddleware(_held_app(release, entered), admission=admission)
    transport = httpx.ASGITransport(app=guarded, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        held = [
            asyncio.create_task(client.get("/v1/slow")),
            asyncio.create_task(client.get("/v1/slow", params={"fail": "1"})),
        ]
        for _ in held:
            await asyncio.wait_for(entered.get(), 5)
        assert guarded.in_flight == 2

        refused = await client.get("/v1/slow")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert "more than 2 requests in flight" in refused.json()["detail"]
        assert shed == ["/v1/"]
        # Routes outside the prefixes (health checks) are never refused.
        assert (await client.get("/health")).status_code == 200

        release.set()
        ok, failed = await asyncio.gather(*held)
        assert ok.status_code == 200 and failed.status_code == 500
        # A failed request gives its slot back like a successful one.
        assert guarded.in_flight == 0
        assert (await client.get("/v1/slow")).status_code == 200
    assert shed == ["/v1/"]


@pytest.mark.h2o
async def test_serving_app_sheds_excess_predictions(
    registry: Registry, champion: int, redis_url: str, tmp_path: Path
) -> None:
    write_features(registry.database_url, {f"a{i}": {**PATIENT, "AGE": 40 + i} for i in range(12)})
    settings = settings_for(registry, redis_url, tmp_path)
    # Requests wait 50 ms for batch company, so the burst overlaps with the admitted ones.
    config = serving_settings(tmp_path, max_in_flight=2, batch_max_wait_ms=50, retry_after_s=2)
    async with running_app(config, settings) as (_, client):
        burst = await asyncio.gather(
            *(client.post("/v1/predict", json={"entity_id": f"a{i}"}) for i in range(12))
        )
        codes = [response.status_code for response in burst]
        assert set(codes) == {200, 503}, codes
        assert codes.count(200) >= 1
        for response in burst:
            if response.status_code == 503:
                assert response.headers["retry-after"] == "2"
            else:
                assert response.json()["predictions"][0]["prediction"]["predict"] in ("0", "1")
        after = await client.post("/v1/predict", json={"entity_id": "a0"})
        assert after.status_code == 200
        assert (await client.get("/ready")).status_code == 200
        metrics_text = (await client.get("/metrics")).text
    shed = metric(metrics_text, "converge_requests_shed_total", route="/v1/")
    assert shed == pytest.approx(codes.count(503))

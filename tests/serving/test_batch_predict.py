"""POST /v1/predict/batch: parity with single rows, caps and limits, and an event loop kept free."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from serving.api.routes.batch import score_body
from serving.scoring import LoadedModel
from shared.mojo import MojoModel, load_mojo
from tests.handmade_mojo import write_glm_mojo
from tests.serving.client import running_app
from tests.serving.conftest import Registry, serving_settings, settings_for

BATCH = "/v1/predict/batch"


def rows(count: int) -> list[dict[str, Any]]:
    """`count` rows for the hand-made GLM, with a missing value now and then."""
    colours = ["red", "green", "blue", None, "purple"]
    return [
        {"colour": colours[i % 5], "size": None if i % 7 == 0 else i / 10, "note": f"row {i}"}
        for i in range(count)
    ]


async def test_batch_equals_single_rows(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        batch = rows(40)
        answer = await client.post(BATCH, json={"rows": batch})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_version"] == glm_champion and len(body["predictions"]) == 40
        for row, prediction in zip(batch, body["predictions"], strict=True):
            single = (await client.post("/v1/predict", json={"features": row})).json()
            assert single["predictions"][0]["prediction"] == prediction


def test_every_way_of_reading_rows_answers_as_predict_rows(tmp_path: Path) -> None:
    mojo = load_mojo(write_glm_mojo(tmp_path / "glm.zip"))
    assert isinstance(mojo, MojoModel)
    model = LoadedModel(3, mojo.h2o_version, mojo.algo, "", mojo)
    floats = [
        {"colour": None if i % 3 else 1.0, "size": None if i % 7 == 0 else i / 10}
        for i in range(50)
    ]
    reordered = [dict(reversed(row.items())) if i % 2 else row for i, row in enumerate(rows(50))]
    # Floats and nulls (read as one array), mixed values (column slices), keys in varying order.
    for batch in (floats, rows(50), reordered):
        expected = orjson.dumps({"model_version": 3, "predictions": mojo.predict_rows(batch)})
        assert score_body(orjson.dumps({"rows": batch}), model, 100) == expected


async def test_refusals_name_the_field(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    cfg = serving_settings(tmp_path, batch_max_rows=10)
    async with running_app(cfg, settings) as (_, client):
        cases: list[tuple[Any, list[Any], str]] = [
            ({"rows": rows(11)}, ["body", "rows"], "11 rows; at most 10 per request"),
            ({"rows": []}, ["body", "rows"], "at least 1 row"),
            ({"rows": [{"size": 1}, {"size": [1]}]}, ["body", "rows", 1, "size"], "not list"),
            ({"rows": [{"size": 1}, "red"]}, ["body", "rows", 1], "object of features"),
            ({"rows": [{"": 1}]}, ["body", "rows", 0, ""], "1-256 characters"),
            ({"rows": [{"colour": "re\u0000d"}]}, ["body", "rows", 0, "colour"], "NUL"),
            ({"rows": [{"size": 2**64 - 1}]}, ["body", "rows", 0, "size"], "64-bit range"),
            ({"rows": [{"size": 1}], "more": 1}, ["body", "more"], "extra inputs"),
            ({"features": {"size": 1}}, ["body", "features"], "extra inputs"),
            ([1, 2], ["body"], "JSON object"),
        ]
        for request, loc, reason in cases:
            answer = await client.post(BATCH, content=orjson.dumps(request))
            assert answer.status_code == 422, (reason, answer.text)
            [error] = answer.json()["detail"]
            assert error["loc"] == loc and reason in error["msg"], (reason, error)
        nothing_known = await client.post(BATCH, json={"rows": [{"size": 1}, {"weight": 3}]})
        assert nothing_known.status_code == 422
        assert "rows.1 names no column" in nothing_known.json()["detail"]
        unreadable = await client.post(BATCH, json={"rows": [{"size": "big"}]})
        assert unreadable.status_code == 422 and "size" in unreadable.json()["detail"]


async def test_batch_routes_have_their_own_body_limit(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    cfg = serving_settings(tmp_path, max_body_bytes=1024, batch_max_body_bytes=16 * 1024)
    body = orjson.dumps({"rows": rows(60)})  # ~2.5 KB: over the default limit, under the batch one
    assert 1024 < len(body) < 16 * 1024
    async with running_app(cfg, settings) as (_, client):
        single = await client.post("/v1/predict", content=body)
        assert single.status_code == 413
        assert "CONVERGE_SERVING_MAX_BODY_BYTES" in single.json()["detail"]
        assert (await client.post(BATCH, content=body)).status_code == 200
        huge = orjson.dumps({"rows": rows(400)})
        refused = await client.post(BATCH, content=huge)
        assert refused.status_code == 413
        assert "CONVERGE_SERVING_BATCH_MAX_BODY_BYTES" in refused.json()["detail"]
        oip = await client.post("/v2/models/champion/infer", content=huge)
        assert oip.status_code == 413


async def _loop_stall_during(client: Any, body: bytes) -> float:
    """The event loop's longest stall (seconds) while `body` is scored through the batch route."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    answer = await client.post(BATCH, content=body)
    stop.set()
    await ticker
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 10_000
    return max(gaps)


async def test_a_large_batch_does_not_block_the_event_loop(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    body = orjson.dumps({"rows": rows(10_000)})
    async with running_app(serving_settings(tmp_path), settings) as (state, client):
        model = state.holder.current
        assert model is not None
        # FastAPI builds a route's handler on its first request, on the loop: not measured here.
        assert (await client.post(BATCH, json={"rows": rows(2)})).status_code == 200
        on_loop, stalls = [], []
        # The GIL passes between threads every 5 ms by default: a floor under any stall, near the
        # whole request's time once it is this fast. At 1 ms, what stalls the loop is C calls.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        try:
            for _ in range(5):  # the least of each: other work on the machine only adds to both
                started = time.perf_counter()
                score_body(body, model, 10_000)  # what the loop would be blocked for, on it
                on_loop.append(time.perf_counter() - started)
                stalls.append(await _loop_stall_during(client, body))
        finally:
            sys.setswitchinterval(interval)
        # Only the JSON decode (one C call holding the GIL) can stall the loop; checking, scoring
        # and encoding run in the scoring pool.
        assert min(stalls) < 0.75 * min(on_loop), (stalls, on_loop)

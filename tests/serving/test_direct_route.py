"""DirectRoute: FastAPI documents the route as declared, then calls the endpoint as it is."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from serving.api.direct_route import DirectRoute


class Echo(BaseModel):
    """What the test endpoint answers."""

    length: int


async def echo(request: Request) -> Response:
    """Answers the body's length; 400 on an empty body."""
    body = await request.body()
    if not body:
        raise HTTPException(400, detail="empty body")
    return Response(Echo(length=len(body)).model_dump_json(), media_type="application/json")


def app_with(endpoint: object) -> FastAPI:
    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/echo", endpoint, methods=["POST"], response_model=Echo)  # type: ignore[arg-type]
    app = FastAPI()
    app.include_router(router)
    return app


async def test_the_endpoint_answers_and_its_errors_go_through_the_handlers() -> None:
    transport = httpx.ASGITransport(app=app_with(echo))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answered = await client.post("/echo", content=b"12345")
        refused = await client.post("/echo", content=b"")
        schema = (await client.get("/openapi.json")).json()
    assert answered.status_code == 200
    assert answered.json() == {"length": 5}
    assert refused.status_code == 400
    assert refused.json() == {"detail": "empty body"}
    documented = schema["paths"]["/echo"]["post"]["responses"]["200"]
    assert documented["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Echo"
    }


def sync_echo(request: Request) -> Response:
    return Response(b"")


async def echo_with_query(request: Request, limit: int) -> Response:
    return Response(b"")


@pytest.mark.parametrize("endpoint", [sync_echo, echo_with_query])
def test_an_endpoint_fastapi_would_have_to_feed_is_refused(endpoint: object) -> None:
    with pytest.raises(TypeError, match=r"DirectRoute /echo: the endpoint must be `async def"):
        app_with(endpoint)

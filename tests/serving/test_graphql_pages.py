"""/docs (Swagger UI), /redoc and /graphql (GraphiQL) render in a real headless chromium that can
reach nothing but 127.0.0.1: their files are served by the app itself, not by a CDN."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import strawberry

from tests.serving.conftest import Registry, serving_env
from tests.serving.server import uvicorn_server

# Every host name resolves to nothing, except the app's address.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


def _rendered_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (chromium --dump-dom), with the internet cut off."""
    result = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",  # tests run as root
            "--disable-gpu",
            f"--user-data-dir={profile}",
            OFFLINE,
            "--virtual-time-budget=15000",  # let scripts fetch and render before the dump
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


@pytest.fixture
def server(registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path) -> str:
    env = serving_env(registry, redis_url, tmp_path, CONVERGE_SERVING_GRAPHQL_IDE="true")
    with uvicorn_server(env, tmp_path / "uvicorn.log") as base:
        yield base


def test_swagger_ui_and_graphiql_render_offline(server: str, tmp_path: Path) -> None:
    docs = _rendered_dom(f"{server}/docs", tmp_path / "profile-docs")
    redoc = _rendered_dom(f"{server}/redoc", tmp_path / "profile-redoc")
    graphiql = _rendered_dom(f"{server}/graphql", tmp_path / "profile-graphql")
    # Strawberry's own GraphiQL page loads its scripts from a CDN: under the same rules it must
    # stay empty, which shows the rules do cut the internet off.
    cdn_page = Path(strawberry.__file__).parent / "static" / "graphiql.html"
    control = _rendered_dom(cdn_page.as_uri(), tmp_path / "profile-control")

    # Rendered by swagger-ui-bundle.js from /openapi.json: the operations and the title.
    assert "swagger-ui" in docs and "opblock" in docs
    assert "/v1/predict" in docs and "converge serving" in docs
    assert "redoc-wrap" in redoc and "/v1/predict" in redoc
    # GraphiQL rendered its editor with the example query.
    assert "graphiql-editors" in graphiql and "graphiql-execute-button" in graphiql
    assert "customer-000001" in graphiql and "latestEventTimestamp" in graphiql
    assert "graphiql-editors" not in control and "Loading..." in control

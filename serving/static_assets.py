"""Swagger UI (/docs, /redoc) and GraphiQL's files served by the app itself, not from a CDN.

The files come from two PyPI wheels pinned in the lock files (hash-checked at install):
fastapi-offline (swagger-ui-bundle.js, swagger-ui.css, redoc) and graphene-django-graphiql-static
(GraphiQL 2.1.0 with React 17 UMD builds). Only their static folders are used; neither package is
imported. The pages then work on a machine without internet access.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_URL = "/static/swagger"
GRAPHIQL_URL = "/static/graphiql"


def _folder(package: str, *parts: str) -> Path:
    """A folder inside an installed package, found without importing the package."""
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {package} package (static assets) is not installed")
    return Path(spec.submodule_search_locations[0], *parts)


SWAGGER_DIR = _folder("fastapi_offline", "static")
GRAPHIQL_DIR = _folder(
    "graphene_django_graphiql_static", "static", "graphene_django_graphiql_static"
)


def mount_static_assets(app: FastAPI) -> None:
    """Serve the asset folders and the /docs and /redoc pages that load them."""
    app.mount(SWAGGER_URL, StaticFiles(directory=SWAGGER_DIR), name="swagger-assets")
    app.mount(GRAPHIQL_URL, StaticFiles(directory=GRAPHIQL_DIR), name="graphiql-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")  # behind a proxy that strips a prefix
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_URL}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{SWAGGER_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{SWAGGER_URL}/favicon.png",
            with_google_fonts=False,
        )

"""GET /docs and /redoc: the API's documentation, with every script and style served by CT.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and start them with an inline script;
these load the same builds from `fastapi-offline` (mounted at /docs/assets) and start Swagger
UI from a file, so the pages' policy allows scripts from CT alone. Both read /openapi.json.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from control_tower.observability.security_headers import LOCKDOWN_DIRECTIVES

ASSETS = "/docs/assets"
# Each page's own policy: CT's default plus what the page needs (checked in a browser: the
# console shows no violation but ReDoc's "by Redocly" logo from its CDN, which stays blocked).
# Swagger UI draws icons as data: images; ReDoc also styles its elements inline and searches
# in a worker built from a blob. Scripts stay CT's own.
SWAGGER_POLICY = f"default-src 'self'; img-src 'self' data:; {LOCKDOWN_DIRECTIVES}"
REDOC_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    f"worker-src 'self' blob:; {LOCKDOWN_DIRECTIVES}"
)

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Control Tower API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Control Tower API</title>
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""

api = APIRouter(include_in_schema=False)
api.mount(
    ASSETS,
    StaticFiles(
        directory=Path(__file__).parent / "assets", packages=[("fastapi_offline", "static")]
    ),
    name="api-docs-assets",
)


def _page(template: str, policy: str, request: Request) -> HTMLResponse:
    root = escape(str(request.scope.get("root_path", "")).rstrip("/"))
    html = template.format(assets=root + ASSETS, openapi=root + "/openapi.json")
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


@api.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    return _page(SWAGGER_PAGE, SWAGGER_POLICY, request)


@api.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    return _page(REDOC_PAGE, REDOC_POLICY, request)

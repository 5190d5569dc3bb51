"""The interactive API documentation at `/docs`: Swagger UI, served by the platform itself.

The provincial network is an intranet, so the page loads nothing from anywhere else: Swagger UI's
script and style sheet come from npm's `swagger-ui-dist` (pinned in package-lock.json), copied by
`make install` into the console's vendor folder and served under `/static/`. The page starts
Swagger UI from a file (`/static/api-docs.js`), never an inline script, so it runs under the same
Content-Security-Policy as every other page. FastAPI's own `/docs` and `/redoc` (which load their
assets from a CDN) are switched off in `create_app`.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from phip.web.console import VENDOR

DOCS_URL = "/docs"
#: Swagger UI's files, under the console's vendor folder (the Makefile copies them there)
SWAGGER_DIR = VENDOR / "swagger-ui"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
SWAGGER_URL = "/static/vendor/swagger-ui"
INIT_URL = "/static/api-docs.js"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title} · API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<noscript>The interactive API documentation needs JavaScript; the API itself is described at
<a href="{openapi}">{openapi}</a>.</noscript>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""

MISSING = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} · API</title></head>
<body>
<h1>接口文档的前端文件未安装 · The API documentation's front-end files are not installed</h1>
<p>Run <code>make install</code> in the checkout: it copies Swagger UI (npm <code>swagger-ui-dist</code>,
pinned in package-lock.json) into <code>src/phip/web/console/static/vendor/swagger-ui/</code>.
The API itself is described at <a href="{openapi}">{openapi}</a>.</p>
</body>
</html>
"""


def installed() -> bool:
    """Whether Swagger UI's files are in the vendor folder."""
    return all((SWAGGER_DIR / name).is_file() for name in SWAGGER_FILES)


def install(app: FastAPI) -> None:
    """Serve `/docs` (the app is created with `docs_url=None, redoc_url=None`)."""

    async def api_docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        values = {
            "title": escape(app.title),
            "openapi": escape(root + (app.openapi_url or "/openapi.json")),
            "css": escape(f"{root}{SWAGGER_URL}/swagger-ui.css"),
            "bundle": escape(f"{root}{SWAGGER_URL}/swagger-ui-bundle.js"),
            "init": escape(root + INIT_URL),
        }
        if not installed():
            return HTMLResponse(MISSING.format(**values), status_code=503)
        return HTMLResponse(PAGE.format(**values))

    app.add_api_route(DOCS_URL, api_docs, methods=["GET"], include_in_schema=False)

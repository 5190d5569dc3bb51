"""The administrator console at `/`: server-rendered pages (Jinja2 + HTMX) with maps and charts
(Apache ECharts), all assets served by the platform itself (no CDN)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from phip.web.console import (
    auth_pages,
    board,
    explorer,
    identity_pages,
    overview,
    pivot,
    quality_pages,
    records,
    reporting_page,
)
from phip.web.console.base import HERE, Forbidden, LoginRequired, render

VENDOR = HERE / "static" / "vendor"
VENDOR_FILES = ("echarts.min.js", "htmx.min.js")


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.headers.get("hx-request") or request.url.path.startswith("/console/data"):
        return Response(status_code=401)
    return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    ctx = exc.ctx
    return render(ctx, "error.html", status=403, title=ctx.t("forbidden"), detail=exc.detail)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.include_router(auth_pages.router)
    for module in (overview, explorer, pivot, board, reporting_page, quality_pages, identity_pages, records):
        app.include_router(module.router)

"""Console login, logout and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from phip.web import auth_router
from phip.web.console.base import Ctx, context, render
from phip.web.console.i18n import LANG_COOKIE, LOCALES
from phip.web.deps import SESSION_COOKIE, SessionDep, csrf_token
from phip.web.outcome import ApiError

router = APIRouter(include_in_schema=False)


def _local(url: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    parts = urlsplit(url or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


@router.get("/login")
def login_page(request: Request, next: str = "/", session: Session = SessionDep) -> Response:
    return render(context(request, session), "login.html", next=_local(next), error=False)


@router.post("/login")
def login_submit(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
    session: Session = SessionDep,
) -> Response:
    ctx: Ctx = context(request, session)
    try:
        out = auth_router.login(auth_router.Login(username=username, password=password), request, session)
    except ApiError:
        return render(ctx, "login.html", status=401, next=_local(next), error=True)
    if out.role == "resident":
        return render(ctx, "login.html", status=403, next=_local(next), error=True)
    resp = RedirectResponse(_local(next), status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        out.access_token,
        max_age=out.expires_in,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


@router.post("/logout")
def logout(request: Request, csrf: str = Form(""), session: Session = SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    resp = RedirectResponse("/login", status_code=303)
    if token and csrf == csrf_token(token, request.app.state.settings.secret_key):
        resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/lang/{locale}")
def switch_language(locale: str, next: str = "/") -> Response:
    resp = RedirectResponse(_local(next), status_code=303)
    if locale in LOCALES:
        resp.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax")
    return resp

"""Console login, logout and the language switch."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from phip.security import logins, tokens
from phip.web.console.base import Ctx, context, render
from phip.web.console.i18n import LANG_COOKIE, LOCALES
from phip.web.deps import SESSION_COOKIE, SessionDep, csrf_token, verify_token
from phip.web.headers import client_address

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "phip_login_csrf"


def _local(url: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    parts = urlsplit(url or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _secure(request: Request) -> bool:
    """Cookies only over TLS: the request's own scheme, or a TLS-terminating proxy in front."""
    return request.url.scheme == "https" or bool(request.app.state.settings.tls_proxy)


def _login_form(ctx: Ctx, status: int, next_url: str, error: bool) -> Response:
    """The login page with a fresh anti-forgery value, in the form and in a cookie (double
    submit): another site can make a browser post the form, but not read the value."""
    value = secrets.token_urlsafe(24)
    resp = render(ctx, "login.html", status=status, next=_local(next_url), error=error, login_csrf=value)
    resp.set_cookie(
        LOGIN_CSRF_COOKIE, value, max_age=3600, httponly=True, samesite="strict", secure=_secure(ctx.request)
    )
    return resp


@router.get("/login")
def login_page(request: Request, next: str = "/", session: Session = SessionDep) -> Response:
    return _login_form(context(request, session), 200, next, False)


@router.post("/login")
def login_submit(
    request: Request,
    username: str = Form(..., max_length=200),
    password: str = Form(..., max_length=1024),
    next: str = Form("/", max_length=2000),
    csrf: str = Form("", max_length=100),
    session: Session = SessionDep,
) -> Response:
    ctx: Ctx = context(request, session)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf, expected):
        return _login_form(ctx, 403, next, True)
    address = client_address(request)
    try:
        out = logins.staff_login(session, request.app.state.settings, username, password, address, "console")
    except logins.LoginRefused as exc:
        return _login_form(ctx, exc.status, next, True)
    resp = RedirectResponse(_local(next), status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        out.token,
        max_age=out.expires_in,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(request: Request, csrf: str = Form("", max_length=100), session: Session = SessionDep) -> Response:
    """End the console session on the server (the token is refused from now on), then forget
    the cookie."""
    token = request.cookies.get(SESSION_COOKIE, "")
    resp = RedirectResponse("/login", status_code=303)
    if token and hmac.compare_digest(csrf, csrf_token(token, request.app.state.settings.secret_key)):
        try:
            who = verify_token(request, token)
        except tokens.TokenError:
            who = None
        if who is not None:
            logins.logout(session, who, "console")
        resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/lang/{locale}")
def switch_language(locale: str, next: str = "/") -> Response:
    resp = RedirectResponse(_local(next), status_code=303)
    if locale in LOCALES:
        resp.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax")
    return resp

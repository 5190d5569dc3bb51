"""Request dependencies: a database session and the calling principal.

API clients send `Authorization: Bearer <token>`. The console's browser sends the same token in
an HttpOnly, SameSite=Strict cookie; a cookie-authenticated request that changes something must
also carry the `X-CSRF-Token` header the console page was rendered with (a keyed hash of the
token), so another site can neither read nor forge one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from phip.security import sessions, tokens
from phip.security.access import Access
from phip.security.principals import Principal
from phip.store import outbox
from phip.web.outcome import ApiError

SESSION_COOKIE = "phip_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """The request's database session. When the request committed writes that other domains
    follow (the store's outbox), their first batch is delivered before the session closes
    (the Patient is linked before its creator asks again); the app's delivery loop does the rest."""
    with Session(request.app.state.engine) as session:
        yield session
        if outbox.emitted(session):
            session.rollback()  # nothing uncommitted is delivered
            outbox.deliver(session, outbox.context(request.app.state.settings.var_dir), max_batches=1)


def csrf_token(token: str, secret: str) -> str:
    """The anti-forgery value that goes with a console session token."""
    return hmac.new(secret.encode(), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def verify_token(request: Request, token: str) -> Principal:
    """The caller a token names, if its signature holds and its server-side session is live
    (not logged out; the account still active with the same role)."""
    settings = request.app.state.settings
    claims = tokens.verify(token, [settings.secret_key, *settings.previous_secret_keys])
    with Session(request.app.state.engine) as s:
        try:
            sessions.check(s, claims)
        except sessions.SessionRevoked as exc:
            raise tokens.TokenError(str(exc)) from exc
    patients = claims.get("patients") or ()
    return Principal(
        session_id=claims["jti"],
        kind=claims["kind"],
        id=claims["sub"],
        role=claims["role"],
        facility=claims.get("facility"),
        org_path=claims.get("org_path"),
        patient_ids=tuple(p for p in patients if isinstance(p, str)) if isinstance(patients, list) else (),
    )


def get_principal(request: Request) -> Principal:
    auth = request.headers.get("authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    elif cookie:
        token = cookie
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            expected = csrf_token(token, request.app.state.settings.secret_key)
            if not hmac.compare_digest(sent, expected):
                raise ApiError(403, "forbidden", "missing or wrong X-CSRF-Token for a console session")
    else:
        raise ApiError(401, "login", "authentication required: send Authorization: Bearer <token>")
    try:
        return verify_token(request, token)
    except tokens.TokenError as exc:
        raise ApiError(401, "login", f"invalid token: {exc}") from exc


SessionDep = Depends(get_session)
PrincipalDep = Depends(get_principal)


def get_access(request: Request, session: Session = SessionDep, who: Principal = PrincipalDep) -> Access:
    return Access(who, session, request.app.state.settings.province)


AccessDep = Depends(get_access)


def allow(action: str, verb: str | None = None) -> Any:
    """A route dependency: the caller's `Access`, after `require(action)` (403 and an audit
    entry otherwise). The action is the route's entry in the access policy; the app publishes
    it in the OpenAPI as `x-phip-action`."""

    def dep(request: Request, session: Session = SessionDep, who: Principal = PrincipalDep) -> Access:
        access = Access(who, session, request.app.state.settings.province)
        access.require(action, verb, f"{request.method} {request.url.path}")
        return access

    dep.phip_action = action  # type: ignore[attr-defined]
    return Depends(dep)


def route_action(dependant: Any) -> str | None:
    """The access-policy action a route's dependencies demand (None: a public route)."""
    for sub in dependant.dependencies:
        action = getattr(sub.call, "phip_action", None) or route_action(sub)
        if action:
            return str(action)
    return None

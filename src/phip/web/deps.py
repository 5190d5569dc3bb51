"""Request dependencies: a database session and the calling principal."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from phip.security import tokens
from phip.security.principals import Principal
from phip.web.outcome import ApiError


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


def get_principal(request: Request) -> Principal:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise ApiError(401, "login", "authentication required: send Authorization: Bearer <token>")
    settings = request.app.state.settings
    try:
        claims = tokens.verify(auth[7:].strip(), [settings.secret_key, *settings.previous_secret_keys])
    except tokens.TokenError as exc:
        raise ApiError(401, "login", f"invalid token: {exc}") from exc
    return Principal(
        kind=claims["kind"],
        id=claims["sub"],
        role=claims["role"],
        facility=claims.get("facility"),
        org_path=claims.get("org_path"),
        patient_ids=tuple(claims.get("patients") or ()),
    )


SessionDep = Depends(get_session)
PrincipalDep = Depends(get_principal)

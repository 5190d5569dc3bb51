"""Logins: client credentials for facility systems, username/password for staff and residents."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from phip.orgunits.models import Facility, OrgUnit
from phip.security import audit, sessions, throttle, tokens
from phip.security.models import ApiClient, ResidentAccount, StaffUser
from phip.security.passwords import DUMMY_HASH, verify_secret
from phip.security.principals import Principal
from phip.web.deps import PrincipalDep, SessionDep
from phip.web.outcome import ApiError

router = APIRouter(prefix="/api/auth", tags=["auth"])


class ClientCredentials(BaseModel):
    grant_type: str = Field("client_credentials", max_length=64)
    client_id: str = Field(max_length=200)
    client_secret: str = Field(max_length=1024)


class Login(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


def _issue(request: Request, session: Session, claims: dict[str, Any]) -> TokenOut:
    """A signed token whose id is recorded as a live session (checked on every request)."""
    s = request.app.state.settings
    jti = secrets.token_urlsafe(24)
    sessions.purge_expired(session)  # sessions a day past their expiry are of no further use
    sessions.open_session(
        session, jti, f"{claims['kind']}:{claims['sub']}", claims["role"], s.token_ttl_seconds
    )
    return TokenOut(
        access_token=tokens.issue({**claims, "jti": jti}, s.secret_key, s.token_ttl_seconds),
        expires_in=s.token_ttl_seconds,
        role=claims["role"],
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


def _throttled(session: Session, request: Request, name: str, actor: str, role: str) -> None:
    wait = throttle.locked_for(session, name, _address(request))
    if wait:
        audit.record(session, actor, role, "login", "api", "throttled")
        session.commit()
        raise ApiError(
            429, "throttled", "too many failed logins; try again later", headers={"Retry-After": str(wait)}
        )


def _refuse(session: Session, request: Request, name: str, actor: str, role: str, text: str) -> None:
    throttle.failed(session, name, _address(request))
    audit.record(session, actor, role, "login", "api", "denied")
    session.commit()
    raise ApiError(401, "login", text)


@router.post("/token", response_model=TokenOut)
def client_token(body: ClientCredentials, request: Request, session: Session = SessionDep) -> TokenOut:
    """Facility system login (OAuth2 client credentials)."""
    if body.grant_type != "client_credentials":
        raise ApiError(400, "invalid", "grant_type must be client_credentials")
    actor = f"facility:{body.client_id[:64]}"
    _throttled(session, request, f"client:{body.client_id}", actor, "facility_client")
    client = session.get(ApiClient, body.client_id[:64])
    stored = client.secret_hash if client is not None else DUMMY_HASH
    ok = verify_secret(stored, body.client_secret)  # always one hash: no timing oracle
    if client is None or not client.active or not ok:
        _refuse(
            session,
            request,
            f"client:{body.client_id}",
            actor,
            "facility_client",
            "unknown client or wrong secret",
        )
    assert client is not None
    throttle.succeeded(session, f"client:{body.client_id}")
    fac = session.get(Facility, client.facility)
    audit.record(session, f"facility:{client.client_id}", "facility_client", "login", "api", "ok")
    out = _issue(
        request,
        session,
        {
            "kind": "facility",
            "sub": client.client_id,
            "role": "facility_client",
            "facility": client.facility,
            "org_path": fac.path if fac else None,
        },
    )
    session.commit()
    return out


@router.post("/login", response_model=TokenOut)
def login(body: Login, request: Request, session: Session = SessionDep) -> TokenOut:
    """Staff or resident login."""
    name = body.username[:64]
    _throttled(session, request, name, f"staff:{name}", "")
    user = session.get(StaffUser, name)
    resident = session.get(ResidentAccount, name) if user is None else None
    stored = user.password_hash if user is not None else resident.password_hash if resident else DUMMY_HASH
    ok = verify_secret(stored, body.password)  # always one hash: no timing oracle
    if ok and user is not None and user.active:
        throttle.succeeded(session, name)
        unit = session.get(OrgUnit, user.org_unit) if user.org_unit else None
        fac = session.get(Facility, user.facility) if user.facility else None
        audit.record(session, f"staff:{user.username}", user.role, "login", "api", "ok")
        out = _issue(
            request,
            session,
            {
                "kind": "staff",
                "sub": user.username,
                "role": user.role,
                "facility": user.facility,
                "org_path": (unit.path if unit else None) or (fac.path if fac else None),
            },
        )
        session.commit()
        return out
    if ok and resident is not None and resident.active:
        throttle.succeeded(session, name)
        audit.record(session, f"resident:{resident.username}", "resident", "login", "api", "ok")
        out = _issue(
            request,
            session,
            {
                "kind": "resident",
                "sub": resident.username,
                "role": "resident",
                "patients": resident.patient_ids.split(),
            },
        )
        session.commit()
        return out
    _refuse(session, request, name, f"staff:{name}", "", "unknown user or wrong password")
    raise AssertionError("unreachable")


@router.post("/logout", status_code=204)
def logout(request: Request, session: Session = SessionDep, who: Principal = PrincipalDep) -> Response:
    """End this token's session: it is refused from the next request on."""
    sessions.revoke(session, who.session_id)
    audit.record(session, who.actor, who.role, "logout", "api", "ok")
    session.commit()
    return Response(status_code=204)

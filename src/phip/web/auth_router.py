"""Logins: client credentials for facility systems, username/password for staff and residents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from phip.orgunits.models import Facility, OrgUnit
from phip.security import audit, tokens
from phip.security.models import ApiClient, ResidentAccount, StaffUser
from phip.security.passwords import verify_secret
from phip.web.deps import SessionDep
from phip.web.outcome import ApiError

router = APIRouter(prefix="/api/auth", tags=["auth"])


class ClientCredentials(BaseModel):
    grant_type: str = "client_credentials"
    client_id: str
    client_secret: str


class Login(BaseModel):
    username: str
    password: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


def _issue(request: Request, claims: dict[str, Any]) -> TokenOut:
    s = request.app.state.settings
    return TokenOut(
        access_token=tokens.issue(claims, s.secret_key, s.token_ttl_seconds),
        expires_in=s.token_ttl_seconds,
        role=claims["role"],
    )


@router.post("/token", response_model=TokenOut)
def client_token(body: ClientCredentials, request: Request, session: Session = SessionDep) -> TokenOut:
    """Facility system login (OAuth2 client credentials)."""
    if body.grant_type != "client_credentials":
        raise ApiError(400, "invalid", "grant_type must be client_credentials")
    client = session.get(ApiClient, body.client_id)
    if client is None or not client.active or not verify_secret(client.secret_hash, body.client_secret):
        audit.record(session, f"facility:{body.client_id}", "facility_client", "login", "api", "denied")
        session.commit()
        raise ApiError(401, "login", "unknown client or wrong secret")
    fac = session.get(Facility, client.facility)
    audit.record(session, f"facility:{client.client_id}", "facility_client", "login", "api", "ok")
    session.commit()
    return _issue(
        request,
        {
            "kind": "facility",
            "sub": client.client_id,
            "role": "facility_client",
            "facility": client.facility,
            "org_path": fac.path if fac else None,
        },
    )


@router.post("/login", response_model=TokenOut)
def login(body: Login, request: Request, session: Session = SessionDep) -> TokenOut:
    """Staff or resident login."""
    user = session.get(StaffUser, body.username)
    if user is not None and user.active and verify_secret(user.password_hash, body.password):
        unit = session.get(OrgUnit, user.org_unit) if user.org_unit else None
        fac = session.get(Facility, user.facility) if user.facility else None
        audit.record(session, f"staff:{user.username}", user.role, "login", "api", "ok")
        session.commit()
        return _issue(
            request,
            {
                "kind": "staff",
                "sub": user.username,
                "role": user.role,
                "facility": user.facility,
                "org_path": (unit.path if unit else None) or (fac.path if fac else None),
            },
        )
    resident = session.get(ResidentAccount, body.username)
    if resident is not None and resident.active and verify_secret(resident.password_hash, body.password):
        audit.record(session, f"resident:{resident.username}", "resident", "login", "api", "ok")
        session.commit()
        return _issue(
            request,
            {
                "kind": "resident",
                "sub": resident.username,
                "role": "resident",
                "patients": resident.patient_ids.split(),
            },
        )
    audit.record(session, f"staff:{body.username}", "", "login", "api", "denied")
    session.commit()
    raise ApiError(401, "login", "unknown user or wrong password")

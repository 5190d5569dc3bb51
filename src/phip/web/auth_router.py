"""Logins: client credentials for facility systems, username/password for staff and residents."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from phip.security import logins
from phip.security.principals import Principal
from phip.web.deps import PrincipalDep, SessionDep
from phip.web.headers import client_address
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


def _address(request: Request) -> str:
    return client_address(request)


def _out(issued: logins.Issued) -> TokenOut:
    return TokenOut(access_token=issued.token, expires_in=issued.expires_in, role=issued.role)


def _refused(exc: logins.LoginRefused) -> ApiError:
    if exc.status == 429:
        return ApiError(429, "throttled", exc.text, headers={"Retry-After": str(exc.retry_after)})
    return ApiError(exc.status, "login", exc.text)


@router.post("/token", response_model=TokenOut)
def client_token(body: ClientCredentials, request: Request, session: Session = SessionDep) -> TokenOut:
    """Facility system login (OAuth2 client credentials)."""
    if body.grant_type != "client_credentials":
        raise ApiError(400, "invalid", "grant_type must be client_credentials")
    settings = request.app.state.settings
    try:
        return _out(
            logins.client_login(session, settings, body.client_id, body.client_secret, _address(request))
        )
    except logins.LoginRefused as exc:
        raise _refused(exc) from exc


@router.post("/login", response_model=TokenOut)
def login(body: Login, request: Request, session: Session = SessionDep) -> TokenOut:
    """Staff or resident login."""
    settings = request.app.state.settings
    try:
        return _out(logins.user_login(session, settings, body.username, body.password, _address(request)))
    except logins.LoginRefused as exc:
        raise _refused(exc) from exc


@router.post("/logout", status_code=204)
def logout(session: Session = SessionDep, who: Principal = PrincipalDep) -> Response:
    """End this token's session: it is refused from the next request on."""
    logins.logout(session, who)
    return Response(status_code=204)

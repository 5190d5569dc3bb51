"""Logging in and out: facility systems with client credentials, staff and residents with a
name and password. Every attempt is throttled and audited here; a success opens a server-side
session and returns a signed token naming it. The API and the console both log in through
these functions, so the rules cannot drift apart."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from phip.orgunits.models import Facility, OrgUnit
from phip.security import audit, sessions, throttle, tokens
from phip.security.access import policy
from phip.security.models import ApiClient, ResidentAccount, StaffUser
from phip.security.passwords import DUMMY_HASH, verify_secret
from phip.security.principals import Principal
from phip.settings import Settings


class LoginRefused(Exception):
    """A refused login (already audited): `status` 401, or 429 with `retry_after` seconds."""

    def __init__(self, status: int, text: str, retry_after: int = 0):
        super().__init__(text)
        self.status, self.text, self.retry_after = status, text, retry_after


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int
    role: str
    kind: str


def _role_of(kind: str) -> str:
    """The one role an account of this kind holds (facility systems, residents)."""
    roles = policy().roles_of(kind)
    assert len(roles) == 1, f"the policy must give accounts of kind {kind} one role"
    return roles[0]


def _issue(session: Session, settings: Settings, claims: dict[str, Any]) -> Issued:
    jti = secrets.token_urlsafe(24)
    sessions.purge_expired(session)  # sessions a day past their expiry are of no further use
    ttl = settings.token_ttl_seconds
    sessions.open_session(session, jti, f"{claims['kind']}:{claims['sub']}", claims["role"], ttl)
    token = tokens.issue({**claims, "jti": jti}, settings.secret_key, ttl)
    return Issued(token, ttl, claims["role"], claims["kind"])


def _throttled(session: Session, name: str, address: str, actor: str, role: str, channel: str) -> None:
    wait = throttle.locked_for(session, name, address)
    if wait:
        audit.record(session, actor, role, "login", channel, "throttled")
        session.commit()
        raise LoginRefused(429, "too many failed logins; try again later", wait)


def _refuse(
    session: Session, name: str, address: str, actor: str, role: str, channel: str, text: str
) -> None:
    throttle.failed(session, name, address)
    audit.record(session, actor, role, "login", channel, "denied")
    session.commit()
    raise LoginRefused(401, text)


def client_login(
    session: Session, settings: Settings, client_id: str, secret: str, address: str, channel: str = "api"
) -> Issued:
    """A facility system's token (OAuth2 client credentials)."""
    role = _role_of("facility")
    cid = client_id[:64]
    actor, key = f"facility:{cid}", f"client:{client_id}"
    _throttled(session, key, address, actor, role, channel)
    client = session.get(ApiClient, cid)
    stored = client.secret_hash if client is not None else DUMMY_HASH
    ok = verify_secret(stored, secret)  # always one hash: no timing oracle
    if client is None or not client.active or not ok:
        _refuse(session, key, address, actor, role, channel, "unknown client or wrong secret")
    assert client is not None
    throttle.succeeded(session, key)
    fac = session.get(Facility, client.facility)
    audit.record(session, actor, role, "login", channel, "ok")
    claims = {
        "kind": "facility",
        "sub": client.client_id,
        "role": role,
        "facility": client.facility,
        "org_path": fac.path if fac else None,
    }
    out = _issue(session, settings, claims)
    session.commit()
    return out


def user_login(
    session: Session, settings: Settings, username: str, password: str, address: str, channel: str = "api"
) -> Issued:
    """A staff user's or a resident's token."""
    name = username[:64]
    _throttled(session, name, address, f"staff:{name}", "", channel)
    user = session.get(StaffUser, name)
    resident = session.get(ResidentAccount, name) if user is None else None
    stored = user.password_hash if user is not None else resident.password_hash if resident else DUMMY_HASH
    ok = verify_secret(stored, password)  # always one hash: no timing oracle
    claims: dict[str, Any] | None = None
    if ok and user is not None and user.active:
        unit = session.get(OrgUnit, user.org_unit) if user.org_unit else None
        fac = session.get(Facility, user.facility) if user.facility else None
        claims = {
            "kind": "staff",
            "sub": user.username,
            "role": user.role,
            "facility": user.facility,
            "unit": user.org_unit,
            "org_path": (unit.path if unit else None) or (fac.path if fac else None),
        }
    elif ok and resident is not None and resident.active:
        claims = {
            "kind": "resident",
            "sub": resident.username,
            "role": _role_of("resident"),
            "patients": resident.patient_ids.split(),
        }
    if claims is None:
        _refuse(session, name, address, f"staff:{name}", "", channel, "unknown user or wrong password")
        raise AssertionError("unreachable")
    throttle.succeeded(session, name)
    audit.record(session, f"{claims['kind']}:{claims['sub']}", claims["role"], "login", channel, "ok")
    out = _issue(session, settings, claims)
    session.commit()
    return out


def staff_login(
    session: Session, settings: Settings, username: str, password: str, address: str, channel: str
) -> Issued:
    """`user_login` for a face that only staff use (the console): a resident's valid login is
    refused there, and the session it opened is ended at once."""
    out = user_login(session, settings, username, password, address, channel)
    if out.kind != "staff":
        claims = tokens.verify(out.token, [settings.secret_key])
        sessions.revoke(session, claims["jti"])
        audit.record(session, f"{claims['kind']}:{claims['sub']}", out.role, "login", channel, "denied")
        session.commit()
        raise LoginRefused(403, "this login is for staff")
    return out


def logout(session: Session, who: Principal, channel: str = "api") -> None:
    """End the caller's session: its token is refused from the next request on."""
    sessions.revoke(session, who.session_id)
    audit.record(session, who.actor, who.role, "logout", channel, "ok")
    session.commit()

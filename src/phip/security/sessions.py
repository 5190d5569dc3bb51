"""Server-side state of access tokens, checked on every request.

A signed token alone is not enough: its id (`jti`) must name a live row of `auth_session`, and
the account it was issued to must still exist, be active and hold the role, facility, org unit
and records the token carries. So logout, disabling or deleting an account, deactivating a
client, changing a role or moving a user to another org unit take effect on the next request,
not when the token expires; setting an account again (a password reset) ends its sessions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from phip.security.models import ApiClient, AuthSession, ResidentAccount, StaffUser


class SessionRevoked(Exception):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def open_session(session: Session, jti: str, actor: str, role: str, ttl: int) -> None:
    now = _now()
    session.add(
        AuthSession(jti=jti, actor=actor, role=role, issued_at=now, expires_at=now + timedelta(seconds=ttl))
    )


def _account(session: Session, kind: str, sub: str) -> tuple[str, str | None, str | None, str] | None:
    """(role, facility, org unit, patients) the account holds now, or None when it is gone or
    disabled."""
    if kind == "staff":
        user = session.get(StaffUser, sub)
        return (user.role, user.facility, user.org_unit, "") if user is not None and user.active else None
    if kind == "resident":
        acct = session.get(ResidentAccount, sub)
        return ("resident", None, None, acct.patient_ids) if acct is not None and acct.active else None
    if kind == "facility":
        client = session.get(ApiClient, sub)
        if client is None or not client.active:
            return None
        return ("facility_client", client.facility, None, "")
    return None


def check(session: Session, claims: dict[str, Any]) -> None:
    """Raise SessionRevoked unless the token's session is live and its account unchanged."""
    row = session.get(AuthSession, claims["jti"])
    if row is None or row.revoked_at is not None or _aware(row.expires_at) < _now():
        raise SessionRevoked("the session has ended")
    if row.actor != f"{claims['kind']}:{claims['sub']}" or row.role != claims["role"]:
        raise SessionRevoked("the session does not match the token")
    patients = claims.get("patients")
    now = (
        claims["role"],
        claims.get("facility"),
        claims.get("unit"),
        " ".join(patients) if isinstance(patients, list) else "",
    )
    if _account(session, claims["kind"], claims["sub"]) != now:
        raise SessionRevoked("the account was disabled, removed or changed")


def revoke(session: Session, jti: str) -> bool:
    done = session.execute(
        update(AuthSession)
        .where(AuthSession.jti == jti, AuthSession.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def revoke_actor(session: Session, actor: str) -> int:
    """End every session of an account (disabled, password reset, role changed)."""
    done = session.execute(
        update(AuthSession)
        .where(AuthSession.actor == actor, AuthSession.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def purge_expired(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    done = session.execute(delete(AuthSession).where(AuthSession.expires_at < _now() - older_than))
    return int(done.rowcount)  # type: ignore[attr-defined]

"""Login throttling: repeated failures lock an account name, and a client address, for a while.

Per account name: `USER_LIMIT` failures within `WINDOW` lock it for `LOCK` (whether the account
exists or not, so a lock tells nothing). Per client address: `ADDRESS_LIMIT` failures within the
window (password spraying across many names). A locked key is refused with 429 before any
password is checked; a successful login clears its account name's failures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from phip.security.models import LoginThrottle

WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
USER_LIMIT = 5
ADDRESS_LIMIT = 50


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def keys(name: str, address: str) -> list[tuple[str, int]]:
    return [(f"name:{name[:140]}", USER_LIMIT), (f"addr:{address[:140]}", ADDRESS_LIMIT)]


def locked_for(session: Session, name: str, address: str) -> int:
    """Seconds until the first of these keys unlocks; 0 when none is locked."""
    now = _now()
    wait = 0
    for key, _limit in keys(name, address):
        row = session.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and _aware(row.locked_until) > now:
            wait = max(wait, int((_aware(row.locked_until) - now).total_seconds()) + 1)
    return wait


def failed(session: Session, name: str, address: str) -> None:
    now = _now()
    # forget stale keys first, so spraying made-up names cannot grow the table without bound
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start < now - WINDOW,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
        )
    )
    for key, limit in keys(name, address):
        row = session.get(LoginThrottle, key, with_for_update=True)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            session.add(row)
        if now - _aware(row.window_start) > WINDOW:
            row.failures, row.window_start = 0, now
        row.failures += 1
        if row.failures >= limit:
            row.locked_until, row.failures, row.window_start = now + LOCK, 0, now


def succeeded(session: Session, name: str) -> None:
    row = session.get(LoginThrottle, f"name:{name[:140]}")
    if row is not None:
        session.delete(row)

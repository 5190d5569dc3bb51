"""Tables of callers and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phip.store.db import Base
from phip.store.models import BigId


class ApiClient(Base):
    """A facility system authenticating with client credentials; it writes as its facility only."""

    __tablename__ = "api_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    facility: Mapped[str] = mapped_column(String(24), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StaffUser(Base):
    """A person who logs in: clinician, facility admin, administrators, statistician, public
    health officer, auditor. Scope follows `org_unit` (and `facility` for facility roles)."""

    __tablename__ = "staff_user"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    org_unit: Mapped[str | None] = mapped_column(String(12))
    facility: Mapped[str | None] = mapped_column(String(24))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ResidentAccount(Base):
    """A resident who reads their own record; linked to their Patient records."""

    __tablename__ = "resident_account"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    #: space-separated Patient ids of this person (one per facility that holds a record)
    patient_ids: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditHead(Base):
    """The newest entry's sequence and hash, with their MAC: detects a truncated tail, and
    serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigId)
    hash: Mapped[str] = mapped_column(String(64))
    #: HMAC-SM3 of (seq, hash) under the audit key: the head cannot be rewound without the key
    mac: Mapped[str] = mapped_column(String(64), default="", server_default="")


class AuditEntry(Base):
    """Append-only, keyed chain: `hash = HMAC-SM3(audit key, seq + prev_hash + canonical entry)`,
    `seq` contiguous from 1 (see `phip.security.audit`)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(120))  # kind:id
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))  # read / search / create / update / delete / login …
    target: Mapped[str] = mapped_column(String(200))  # Type/id, Type?query, or a system object
    reason: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # ok / denied / not-found / error
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuthSession(Base):
    """An issued access token, by its id (`jti`): a request is accepted only while its row says
    the token is live, so logout, disabling an account or changing its role take effect at once."""

    __tablename__ = "auth_session"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(120), index=True)  # kind:id
    role: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Failed logins per account name and per client address: after too many in a window the
    key is locked for a while (whether the account exists or not)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

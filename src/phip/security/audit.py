"""The append-only, hash-chained audit log of every read and write of personal data.

Each entry's hash covers the previous entry's hash and the entry's own fields, so changing or
deleting any entry breaks the chain from there on; `verify()` walks it (`phip audit verify`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from phip.security.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def _digest(
    prev: str, at: datetime, actor: str, role: str, action: str, target: str, reason: str, outcome: str
) -> str:
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    body = "\x1f".join((prev, stamp, actor, role, action, target, reason, outcome))
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session, actor: str, role: str, action: str, target: str, outcome: str, reason: str = ""
) -> AuditEntry:
    """Append one entry (in the caller's transaction). The head row is locked first, so
    concurrent appends queue up instead of forking the chain."""
    locked = session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None or locked.rowcount == 0:  # type: ignore[attr-defined]
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    at = datetime.now(UTC)
    entry = AuditEntry(
        at=at,
        actor=actor[:120],
        role=role[:32],
        action=action[:32],
        target=target[:200],
        reason=reason[:200],
        outcome=outcome[:16],
        prev_hash=head.hash,
    )
    entry.hash = _digest(
        head.hash, at, entry.actor, entry.role, entry.action, entry.target, entry.reason, entry.outcome
    )
    session.add(entry)
    session.flush()
    head.seq, head.hash = entry.seq, entry.hash
    return entry


@dataclass
class Verification:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str = ""


def verify(session: Session) -> Verification:
    prev = GENESIS
    n = 0
    expected_seq = None
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        n += 1
        if expected_seq is not None and e.seq != expected_seq:
            return Verification(n, False, expected_seq, "an entry is missing")
        if e.prev_hash != prev:
            return Verification(n, False, e.seq, "the chain is broken before this entry")
        at = e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC)
        if _digest(prev, at, e.actor, e.role, e.action, e.target, e.reason, e.outcome) != e.hash:
            return Verification(n, False, e.seq, "this entry was altered")
        prev = e.hash
        expected_seq = e.seq + 1
    head = session.get(AuditHead, 1)
    if head is not None and (
        head.hash != prev or (expected_seq is not None and head.seq != expected_seq - 1)
    ):
        return Verification(n, False, head.seq, "entries after this one were removed")
    if head is None and n:
        return Verification(n, False, None, "the chain head is missing")
    return Verification(n, True)

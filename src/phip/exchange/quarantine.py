"""Quarantine: a record an import refuses is kept with its raw payload (encrypted: it may hold
personal data) and the reasons, once: the same bad record resubmitted is not stored again."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from phip.exchange.prepare import Prepared
from phip.store.models import Quarantine
from phip.store.protect import encrypt_bytes

Issue = tuple[str, str, str]
#: a refused record: its line, raw bytes, what the worker made of it, and why it was refused
Refused = tuple[int, bytes, Prepared, list[Issue]]


def by_hash(refused: list[Refused]) -> dict[str, Refused]:
    """The refused records by the hash of their raw bytes (one per distinct payload)."""
    return {hashlib.sha256(item[1]).hexdigest(): item for item in refused}


def quarantine(
    session: Session, submission_id: str, path: Path, refused: dict[str, Refused], now: datetime
) -> int:
    """Keep the refused records (by raw hash) not already quarantined; returns how many rows
    were written."""
    if not refused:
        return 0
    known: set[str] = set()
    keys = list(refused)
    for i in range(0, len(keys), 500):
        known.update(
            session.scalars(select(Quarantine.raw_hash).where(Quarantine.raw_hash.in_(keys[i : i + 500])))
        )
    rows = [
        {
            "submission_id": submission_id,
            "facility": p.facility,
            "res_type": p.rtype,
            "res_id": p.rid[:64] if p.rid else None,
            "source": f"{path}:{line_no}",
            "raw": encrypt_bytes(raw),  # personal data at rest: SM4
            "reasons": orjson.dumps([{"code": c, "path": p_, "detail": d} for c, p_, d in issues]).decode(),
            "received_at": now,
            "raw_hash": h,
        }
        for h, (line_no, raw, p, issues) in refused.items()
        if h not in known
    ]
    if rows:
        session.execute(insert(Quarantine), rows)
    return len(rows)

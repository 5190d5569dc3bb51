"""The append-only, keyed and chained audit log of every read and write of personal data.

Tamper evidence has three parts (`verify()`, `phip audit verify`):

- each entry's `hash` is an HMAC-SM3 under the audit key over its sequence number, the previous
  entry's hash and its own fields, so editing, inserting or deleting an entry breaks the chain,
  and recomputing the chain needs the key (plain SHA-256, or another key, does not verify);
- the head row (newest sequence and hash) carries its own MAC, so removing the newest entries
  and rewinding the head to match is noticed too;
- checkpoints `{seq, hash, count, at, mac}` are appended every `audit_checkpoint_every` entries
  (after the transaction commits) and on demand (`phip audit checkpoint`) to a file outside the
  database, `audit_checkpoint_dir/checkpoints.ndjson`; the log must still hold every
  checkpointed entry with the same hash, so a truncated tail or a wiped table is noticed.

The audit key is derived from the data key (`phip.store.protect.keys()`), with its own label;
no key is a constant and none comes from the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, SessionTransaction

from phip.security.models import AuditEntry, AuditHead
from phip.store import protect

if TYPE_CHECKING:
    from phip.settings import Settings

GENESIS = "0" * 64
MAC_LABEL = b"phip-audit-mac"
CHECKPOINT_FILE = "checkpoints.ndjson"
DEFAULT_CHECKPOINT_EVERY = 1000
_PENDING = "phip.audit.pending_checkpoints"

log = logging.getLogger("phip.audit")


# -- keys and MACs ----------------------------------------------------------------------------


def audit_key() -> bytes:
    """The audit MAC key: HMAC-SM3 of the configured data key with the label `phip-audit-mac`
    (the lookup key uses another label, so neither reveals the other)."""
    data_key, _ = protect.keys()
    return protect.hmac_sm3(data_key, MAC_LABEL)


def _mac(key: bytes, kind: str, *parts: object) -> str:
    """HMAC-SM3 (hex) over an unambiguous encoding (a JSON list) tagged with what it covers."""
    body = json.dumps([kind, *parts], ensure_ascii=False, separators=(",", ":"))
    return protect.hmac_sm3(key, body.encode()).hex()


def _stamp(at: datetime) -> str:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite returns the stored UTC time naive
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _entry_mac(key: bytes, seq: int, prev: str, e: AuditEntry) -> str:
    return _mac(
        key, "entry", seq, prev, _stamp(e.at), e.actor, e.role, e.action, e.target, e.reason, e.outcome
    )


def _head_mac(key: bytes, seq: int, hash_: str) -> str:
    return _mac(key, "head", seq, hash_)


def _unkeyed_digest(prev: str, e: AuditEntry) -> str:
    """The plain SHA-256 chain of earlier releases: only recognised, to name the problem."""
    body = "\x1f".join((prev, _stamp(e.at), e.actor, e.role, e.action, e.target, e.reason, e.outcome))
    return hashlib.sha256(body.encode()).hexdigest()


# -- where checkpoints go ---------------------------------------------------------------------


@dataclass
class _Config:
    directory: Path | None = None
    every: int | None = None


_config = _Config()


def configure(checkpoint_dir: Path | None = None, every: int | None = None) -> None:
    """Use this checkpoint folder and interval in this process instead of the settings'
    (`audit_checkpoint_dir`, `audit_checkpoint_every`); `every=0` writes checkpoints only on
    demand."""
    _config.directory = checkpoint_dir
    _config.every = every


def configure_from(settings: Settings) -> None:
    """Use these settings' checkpoint folder and interval (an app made with its own settings)."""
    configure(
        settings.audit_checkpoint_dir or settings.var_dir / "audit-checkpoints",
        settings.audit_checkpoint_every,
    )


def reset() -> None:
    """Forget `configure()`: the settings apply again."""
    configure(None, None)


def checkpoint_dir() -> Path:
    if _config.directory is not None:
        return _config.directory
    from phip.settings import get_settings

    settings = get_settings()
    return settings.audit_checkpoint_dir or settings.var_dir / "audit-checkpoints"


def checkpoint_every() -> int:
    if _config.every is not None:
        return _config.every
    from phip.settings import get_settings

    return get_settings().audit_checkpoint_every


def database_name(session: Session) -> str:
    """The database a checkpoint belongs to: its URL without password, driver or options (a
    SQLite path made absolute), so one checkpoint folder can serve several databases."""
    url = session.get_bind().engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database or ""
        return f"sqlite:///{Path(path).resolve().as_posix() if path and path != ':memory:' else path}"
    return f"{backend}://{url.username or ''}@{url.host or ''}:{url.port or ''}/{url.database or ''}"


# -- appending --------------------------------------------------------------------------------


def record(
    session: Session, actor: str, role: str, action: str, target: str, outcome: str, reason: str = ""
) -> AuditEntry:
    """Append one entry (in the caller's transaction). The head row is locked first, so
    concurrent appends queue up instead of forking the chain, and sequence numbers are
    contiguous (1, 2, 3 …: a gap is a deleted entry)."""
    key = audit_key()
    locked = session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None or locked.rowcount == 0:  # type: ignore[attr-defined]
        head = AuditHead(id=1, seq=0, hash=GENESIS, mac="")
        session.add(head)
        session.flush()
    entry = AuditEntry(
        seq=head.seq + 1,
        at=datetime.now(UTC),
        actor=actor[:120],
        role=role[:32],
        action=action[:32],
        target=target[:200],
        reason=reason[:200],
        outcome=outcome[:16],
        prev_hash=head.hash,
    )
    entry.hash = _entry_mac(key, entry.seq, head.hash, entry)
    session.add(entry)
    session.flush()
    head.seq, head.hash, head.mac = entry.seq, entry.hash, _head_mac(key, entry.seq, entry.hash)
    every = checkpoint_every()
    if every > 0 and entry.seq % every == 0:
        # written once the transaction commits: a rolled-back entry must never be checkpointed
        tx = session.get_nested_transaction() or session.get_transaction()
        pending = session.info.setdefault(_PENDING, [])
        pending.append((tx, checkpoint_dir(), database_name(session), entry.seq, entry.hash))
    return entry


@event.listens_for(Session, "after_commit")
def _write_pending(session: Session) -> None:
    for _tx, directory, db, seq, hash_ in session.info.pop(_PENDING, []):
        try:
            _append_checkpoint(directory, db, seq, hash_, seq)
        except OSError:  # the entries are committed; say so loudly rather than fail the request
            log.exception("could not write the audit checkpoint of entry %s to %s", seq, directory)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return

    def rolled_back(tx: SessionTransaction | None) -> bool:
        while tx is not None:
            if tx is previous_transaction:
                return True
            tx = tx.parent
        return False

    session.info[_PENDING] = [p for p in pending if not rolled_back(p[0])]


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the session's transaction ended: committed ones were written
        session.info.pop(_PENDING, None)


# -- checkpoints ------------------------------------------------------------------------------


def _checkpoint_mac(key: bytes, cp: dict[str, Any]) -> str:
    return _mac(key, "checkpoint", cp["db"], cp["seq"], cp["hash"], cp["count"], cp["at"])


def _append_checkpoint(directory: Path, db: str, seq: int, hash_: str, count: int) -> dict[str, Any]:
    cp: dict[str, Any] = {
        "db": db,
        "seq": seq,
        "hash": hash_,
        "count": count,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    cp["mac"] = _checkpoint_mac(audit_key(), cp)
    directory.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(cp, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    # one append of one line: concurrent writers do not interleave, earlier lines are never rewritten
    fd = os.open(directory / CHECKPOINT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return cp


@dataclass
class Checkpoints:
    """The checkpoints of one database, or the first line that does not verify."""

    items: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""


def read_checkpoints(session: Session, directory: Path | None = None) -> Checkpoints:
    """This database's checkpoints from the file. A line of this database whose MAC does not
    verify, or a line that is not a checkpoint at all, is a problem: a checkpoint cannot be
    written or edited without the audit key. (Lines of other databases sharing the folder are
    skipped: they may be keyed with another deployment's key.)"""
    path = (directory or checkpoint_dir()) / CHECKPOINT_FILE
    if not path.is_file():
        return Checkpoints()
    key, db = audit_key(), database_name(session)
    out = Checkpoints()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cp = json.loads(line)
        except ValueError:
            cp = None
        if not (
            isinstance(cp, dict)
            and isinstance(cp.get("db"), str)
            and isinstance(cp.get("seq"), int)
            and isinstance(cp.get("hash"), str)
            and isinstance(cp.get("mac"), str)
            and "count" in cp
            and "at" in cp
        ):
            out.problem = f"checkpoint line {number} of {path} is not a checkpoint (altered)"
            return out
        if cp["db"] != db:
            continue
        if not hmac.compare_digest(cp["mac"], _checkpoint_mac(key, cp)):
            out.problem = (
                f"checkpoint line {number} of {path} was altered or forged (its MAC does not verify)"
            )
            return out
        out.items.append(cp)
    return out


def checkpoint(session: Session, directory: Path | None = None) -> tuple[Verification, dict[str, Any] | None]:
    """Verify the log, then append a checkpoint of its head (none when the log does not verify
    or is empty: a tampered log must never be vouched for)."""
    result = verify(session, directory)
    if not result.ok or result.entries == 0:
        return result, None
    head = session.get(AuditHead, 1)
    assert head is not None  # verify() fails without a head when there are entries
    cp = _append_checkpoint(
        directory or checkpoint_dir(), database_name(session), head.seq, head.hash, result.entries
    )
    return result, cp


# -- verifying --------------------------------------------------------------------------------


@dataclass
class Verification:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str = ""
    #: the newest checkpoint the log was checked against (None: there was none)
    checkpoint_seq: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "entries": self.entries,
            "ok": self.ok,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "checkpoint_seq": self.checkpoint_seq,
        }


def verify(session: Session, directory: Path | None = None) -> Verification:
    """Walk the chain with the audit key, then compare the head and the checkpoints."""
    key = audit_key()
    cps = read_checkpoints(session, directory)
    newest = max(cps.items, key=lambda c: c["seq"], default=None)
    newest_seq = newest["seq"] if newest else None
    if cps.problem:
        return Verification(0, False, None, cps.problem)
    by_seq = {c["seq"]: c for c in cps.items}

    def bad(n: int, seq: int | None, problem: str) -> Verification:
        return Verification(n, False, seq, problem, newest_seq)

    prev, n, expected = GENESIS, 0, 1
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    for e in session.scalars(query):
        n += 1
        if e.seq != expected:
            return bad(n, expected, f"entry {expected} is missing (deleted)")
        if e.prev_hash != prev:
            return bad(n, e.seq, "the chain is broken before this entry")
        if not hmac.compare_digest(e.hash, _entry_mac(key, e.seq, prev, e)):
            if e.hash == _unkeyed_digest(prev, e):
                return bad(
                    n,
                    e.seq,
                    "this entry has an unkeyed SHA-256 hash instead of the audit MAC: the chain was "
                    "recomputed without the audit key (or written before keyed MACs)",
                )
            return bad(n, e.seq, "this entry was altered (its MAC does not verify with the audit key)")
        cp = by_seq.get(e.seq)
        if cp is not None and cp["hash"] != e.hash:
            return bad(
                n, e.seq, f"this entry differs from the checkpoint of {cp['at']}: the log was replaced"
            )
        prev = e.hash
        expected = e.seq + 1
    last = expected - 1
    head = session.get(AuditHead, 1)
    if head is None and n:
        return bad(n, None, "the chain head is missing")
    if head is not None:
        if not hmac.compare_digest(head.mac or "", _head_mac(key, head.seq, head.hash)):
            return bad(n, head.seq, "the chain head was rewritten (its MAC does not verify)")
        if head.seq > last:
            return bad(n, last + 1, f"entries {last + 1} to {head.seq} were removed")
        if head.seq != last or head.hash != prev:
            return bad(n, head.seq + 1, "the chain head is behind the last entry")
    if newest is not None and newest["seq"] > last:
        if n == 0:
            problem = (
                f"the audit log is empty but the checkpoint of {newest['at']} recorded "
                f"{newest['seq']} entries: it was wiped"
            )
        else:
            problem = (
                f"entries after {last} were removed: the checkpoint of {newest['at']} "
                f"recorded entry {newest['seq']}"
            )
        return bad(n, last + 1, problem)
    return Verification(n, True, checkpoint_seq=newest_seq)

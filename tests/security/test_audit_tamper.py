"""Finding 7: the audit log is tamper-evident against an operator with write access to the
database: entries carry keyed MACs (HMAC-SM3 under a key derived from the data key), the head
carries its own MAC, and MACed checkpoints in a file outside the database catch a cut tail or a
wiped table. Each case on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from phip.cli.main import app
from phip.security import audit
from phip.security.models import AuditEntry, AuditHead
from phip.settings import Settings, get_settings
from phip.store import init_db, make_engine, protect
from tests.conftest import TEST_DATA_KEY, database_url


@dataclass
class Log:
    url: str
    engine: Engine
    checkpoints: Path

    def fill(self, n: int) -> None:
        with Session(self.engine) as s:
            for i in range(n):
                audit.record(s, f"staff:user{i}", "clinician", "read", f"Patient/p{i}", "ok", "care: visit")
            s.commit()

    def verify(self) -> audit.Verification:
        with Session(self.engine) as s:
            return audit.verify(s)

    def checkpoint(self) -> dict | None:  # type: ignore[type-arg]
        with Session(self.engine) as s:
            return audit.checkpoint(s)[1]

    def lines(self) -> list[dict]:  # type: ignore[type-arg]
        path = self.checkpoints / audit.CHECKPOINT_FILE
        return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []

    def head(self) -> tuple[int, str, str]:
        with Session(self.engine) as s:
            h = s.get(AuditHead, 1)
            assert h is not None
            return h.seq, h.hash, h.mac


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    url = database_url(request, tmp_path, "audit")
    engine = make_engine(url)
    init_db(engine)
    checkpoints = tmp_path / "elsewhere" / "audit-checkpoints"
    audit.configure(checkpoints, every=0)
    yield Log(url, engine, checkpoints)
    audit.reset()
    engine.dispose()


def _sha256_chain(engine: Engine, head_too: bool = True) -> None:
    """What an operator without the key can do: recompute the whole chain with plain SHA-256."""
    with Session(engine) as s:
        prev = audit.GENESIS
        for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            e.prev_hash = prev
            e.hash = audit._unkeyed_digest(prev, e)
            prev = e.hash
        if head_too:
            s.execute(update(AuditHead).values(hash=prev, mac=hashlib.sha256(prev.encode()).hexdigest()))
        s.commit()


def _keyed_chain(engine: Engine, key: bytes) -> None:
    """Recompute the chain and the head as the code does, but with a key of one's own."""
    with Session(engine) as s:
        prev = audit.GENESIS
        last = 0
        for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            e.prev_hash = prev
            e.hash = audit._entry_mac(key, e.seq, prev, e)
            prev, last = e.hash, e.seq
        s.execute(update(AuditHead).values(seq=last, hash=prev, mac=audit._head_mac(key, last, prev)))
        s.commit()


# -- an untouched log ------------------------------------------------------------------------


def test_an_untouched_log_verifies(log: Log) -> None:
    assert log.verify() == audit.Verification(0, True)  # an empty log is fine
    log.fill(5)
    log.checkpoint()
    log.fill(3)
    result = log.verify()
    assert (result.ok, result.entries, result.checkpoint_seq, result.problem) == (True, 8, 5, "")
    seq, _, mac = log.head()
    assert seq == 8 and len(mac) == 64
    with Session(log.engine) as s:
        seqs = list(s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert seqs == list(range(1, 9))  # contiguous: a gap is a deleted entry


def test_the_mac_key_is_derived_from_the_data_key_with_its_own_label(log: Log) -> None:
    data_key, lookup_key = protect.keys()
    key = audit.audit_key()
    assert key == protect.hmac_sm3(data_key, b"phip-audit-mac")
    assert key not in (data_key, lookup_key)
    log.fill(3)
    with Session(log.engine) as s:
        first = s.get(AuditEntry, 1)
        assert first is not None
        assert first.hash == audit._entry_mac(key, 1, audit.GENESIS, first)
    protect.configure(secrets.token_hex(16))  # another deployment's key does not verify this log
    assert (log.verify().ok, log.verify().first_bad_seq) == (False, 1)


# -- rewriting the database ------------------------------------------------------------------


def test_an_edited_entry_is_detected(log: Log) -> None:
    log.fill(6)
    with Session(log.engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(target="Patient/someone-else"))
        s.commit()
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "altered" in result.problem


def test_a_deleted_entry_in_the_middle_is_detected(log: Log) -> None:
    log.fill(6)
    with Session(log.engine) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
        s.commit()
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "missing" in result.problem


def test_a_deleted_and_renumbered_entry_is_detected(log: Log) -> None:
    """Closing the gap (renumbering and relinking the later entries) needs the key."""
    log.fill(6)
    with Session(log.engine) as s:
        gone = s.get(AuditEntry, 3)
        assert gone is not None
        prev = gone.prev_hash
        s.delete(gone)
        s.flush()
        for seq in (4, 5, 6):
            s.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq - 1))
            s.flush()
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(prev_hash=prev))
        s.commit()
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_an_edit_with_the_chain_recomputed_in_plain_sha256_is_detected(log: Log) -> None:
    log.fill(6)
    with Session(log.engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(outcome="denied"))
        s.commit()
    _sha256_chain(log.engine)
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "unkeyed SHA-256" in result.problem


def test_an_edit_with_the_chain_recomputed_under_another_key_is_detected(log: Log) -> None:
    log.fill(6)
    with Session(log.engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="staff:nobody"))
        s.commit()
    _keyed_chain(log.engine, secrets.token_bytes(32))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "altered" in result.problem


def test_a_truncated_tail_with_the_head_rewound_is_detected(log: Log) -> None:
    """Without a checkpoint after the cut: the head's MAC cannot be recomputed for the new end."""
    log.fill(8)
    with Session(log.engine) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq > 5))
        fifth = s.get(AuditEntry, 5)
        assert fifth is not None
        s.execute(update(AuditHead).values(seq=5, hash=fifth.hash))
        s.commit()
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert "head was rewritten" in result.problem


def test_a_truncated_tail_with_an_old_head_replayed_is_caught_by_the_checkpoints(log: Log) -> None:
    """An operator who kept a copy of an earlier head row can rewind the head with a valid
    MAC; the checkpoint file still says the log went further."""
    audit.configure(log.checkpoints, every=4)
    log.fill(5)
    saved = log.head()
    log.fill(5)  # 10 entries; checkpoints were written after entries 4 and 8
    assert [c["seq"] for c in log.lines()] == [4, 8]
    with Session(log.engine) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq > 5))
        s.execute(update(AuditHead).values(seq=saved[0], hash=saved[1], mac=saved[2]))
        s.commit()
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checkpoint_seq) == (False, 6, 8)
    assert "entries after 5 were removed" in result.problem


def test_a_wiped_log_is_caught_by_the_checkpoints(log: Log) -> None:
    log.fill(4)
    assert log.checkpoint() is not None
    with Session(log.engine) as s:
        s.execute(delete(AuditEntry))
        s.execute(delete(AuditHead))
        s.commit()
    result = log.verify()
    assert (result.ok, result.entries, result.first_bad_seq) == (False, 0, 1)
    assert "wiped" in result.problem
    log.fill(4)  # starting a new log over the old one does not hide it either
    result = log.verify()
    assert result.ok is False and "differs from the checkpoint" in result.problem


def test_a_removed_head_is_detected(log: Log) -> None:
    log.fill(3)
    with Session(log.engine) as s:
        s.execute(delete(AuditHead))
        s.commit()
    result = log.verify()
    assert (result.ok, result.problem) == (False, "the chain head is missing")


# -- the checkpoint file ---------------------------------------------------------------------


def test_an_edited_or_forged_checkpoint_is_detected(log: Log) -> None:
    log.fill(6)
    log.checkpoint()
    path = log.checkpoints / audit.CHECKPOINT_FILE
    original = path.read_text()
    cp = json.loads(original)
    assert set(cp) == {"db", "seq", "hash", "count", "at", "mac"}
    assert (cp["seq"], cp["count"]) == (6, 6)

    # rewound to cover a cut tail, hash and seq edited without the key
    with Session(log.engine) as s:
        third = s.get(AuditEntry, 3)
        assert third is not None
        third_hash = third.hash
    path.write_text(json.dumps({**cp, "seq": 3, "count": 3, "hash": third_hash}) + "\n")
    result = log.verify()
    assert result.ok is False and "forged" in result.problem

    # a checkpoint made up with a key of one's own
    forged = {**cp, "seq": 3, "count": 3, "hash": third_hash}
    forged["mac"] = audit._checkpoint_mac(secrets.token_bytes(32), forged)
    path.write_text(json.dumps(forged) + "\n")
    assert log.verify().ok is False

    path.write_text(original)
    assert log.verify().ok is True


def test_checkpoints_are_written_after_commit_only(log: Log) -> None:
    audit.configure(log.checkpoints, every=3)
    with Session(log.engine) as s:
        for i in range(3):
            audit.record(s, f"staff:u{i}", "clinician", "read", "Patient/x", "ok")
        assert log.lines() == []  # not before the commit
        s.rollback()
    assert log.lines() == []  # a rolled-back entry is never vouched for
    with Session(log.engine) as s:
        audit.record(s, "staff:a", "clinician", "read", "Patient/x", "ok")
        audit.record(s, "staff:b", "clinician", "read", "Patient/x", "ok")
        nested = s.begin_nested()
        audit.record(s, "staff:c", "clinician", "read", "Patient/x", "ok")  # entry 3, then undone
        nested.rollback()
        audit.record(s, "staff:d", "clinician", "read", "Patient/x", "ok")  # entry 3 again
        s.commit()
    lines = log.lines()
    assert [c["seq"] for c in lines] == [3]
    with Session(log.engine) as s:
        third = s.get(AuditEntry, 3)
        assert third is not None and third.actor == "staff:d" and lines[0]["hash"] == third.hash
    assert log.verify().ok is True


def test_a_tampered_log_is_never_checkpointed(log: Log) -> None:
    log.fill(4)
    with Session(log.engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(reason=""))
        s.commit()
    assert log.checkpoint() is None
    assert log.lines() == []


def test_checkpoints_of_another_database_do_not_apply(log: Log, tmp_path: Path) -> None:
    log.fill(3)
    log.checkpoint()
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    init_db(other)
    with Session(other) as s:
        assert audit.verify(s).ok is True  # empty, and the checkpoint is the first database's
        protect.configure(secrets.token_hex(16))  # a database of a deployment with another key
        audit.record(s, "staff:x", "clinician", "read", "Patient/x", "ok")
        s.commit()
        assert audit.checkpoint(s)[1] is not None
    other.dispose()
    protect.configure(TEST_DATA_KEY)
    assert [c["seq"] for c in log.lines()] == [3, 1]
    assert log.verify().ok is True  # its line is skipped, not taken for a forgery


def test_a_line_that_is_not_a_checkpoint_is_reported(log: Log) -> None:
    log.fill(2)
    log.checkpoint()
    with (log.checkpoints / audit.CHECKPOINT_FILE).open("a") as f:
        f.write('{"seq": 99}\n')
    result = log.verify()
    assert result.ok is False and "line 2" in result.problem


# -- the command line ------------------------------------------------------------------------


def test_cli_verify_and_checkpoint(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    audit.reset()  # the command reads its settings
    monkeypatch.setenv("PHIP_DATABASE_URL", log.url)
    monkeypatch.setenv("PHIP_AUDIT_CHECKPOINT_DIR", str(log.checkpoints))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        log.fill(4)
        done = runner.invoke(app, ["audit", "checkpoint"])
        assert done.exit_code == 0, done.output
        out = json.loads(done.output)
        assert (out["ok"], out["checkpoint"]["seq"]) == (True, 4)
        assert [c["seq"] for c in log.lines()] == [4]

        ok = runner.invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output) == {
            "entries": 4,
            "ok": True,
            "first_bad_seq": None,
            "problem": "",
            "checkpoint_seq": 4,
        }

        with Session(log.engine) as s:
            s.execute(delete(AuditEntry).where(AuditEntry.seq > 2))
            s.commit()
        _keyed_chain(log.engine, secrets.token_bytes(32))  # cut, and the head rewound to match
        bad = runner.invoke(app, ["audit", "verify"])
        assert bad.exit_code == 1
        report = json.loads(bad.output)
        assert (report["ok"], report["first_bad_seq"]) == (False, 1)
        refused = runner.invoke(app, ["audit", "checkpoint"])
        assert refused.exit_code == 1 and json.loads(refused.output)["checkpoint"] is None
        assert len(log.lines()) == 1
    finally:
        get_settings.cache_clear()


def test_the_checkpoint_folder_and_interval_come_from_the_settings(tmp_path: Path) -> None:
    try:
        audit.configure_from(Settings(var_dir=tmp_path / "v", audit_checkpoint_every=7))
        assert (audit.checkpoint_dir(), audit.checkpoint_every()) == (tmp_path / "v" / "audit-checkpoints", 7)
        elsewhere = tmp_path / "worm"
        audit.configure_from(Settings(var_dir=tmp_path / "v", audit_checkpoint_dir=elsewhere))
        assert (audit.checkpoint_dir(), audit.checkpoint_every()) == (elsewhere, 1000)
    finally:
        audit.reset()

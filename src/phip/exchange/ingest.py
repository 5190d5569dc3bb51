"""Bulk import of NDJSON files and folders (and Bundle or resource JSON files).

Every record is either accepted (stored, new version only if its content changed) or
quarantined with its raw payload and reasons: `accepted + quarantined == submitted`, always.
Work is committed in batches together with a per-file checkpoint, so an import killed at any
moment resumes where it stopped and ends with the same store as an uninterrupted one.

Order: files are taken in a dependency order of their resource type (Organization … Patient …
Encounter … Claim), so references usually point backwards; a reference must resolve to a record
accepted earlier in this submission, to a record of this submission not yet processed (a
pre-scan collects their ids), or to the store.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from phip.exchange import sources
from phip.exchange.ownership import existing
from phip.exchange.prepare import Prepared, init_worker, prepare
from phip.exchange.quarantine import Refused, by_hash, quarantine
from phip.exchange.summary import TOTALS, IngestSummary, Progress, Tally
from phip.orgunits.models import Facility
from phip.store.bulkwrite import Staged, current, write_staged
from phip.store.models import IngestCheckpoint, Quarantine, Submission
from phip.store.workers import pool as workers_pool

__all__ = ["Importer", "IngestSummary", "ingest"]

BATCH = 2000
#: records per transaction (a crash repeats at most this many; bigger transactions write each
#: index page to the WAL fewer times)
COMMIT_EVERY = 10_000
COMMIT_SECONDS = 2.0
#: batches handed to workers ahead of the writer
IN_FLIGHT = 4
#: SQLite page cache of the importing connection, in KiB (the default 2 MB thrashes on indexes)
SQLITE_CACHE_KIB = 262_144
#: below this many records an import runs in one process (starting workers costs more)
PARALLEL_FROM = 5000


class Importer:
    """One submission's import: this process reads the files, workers prepare their batches
    (`prepare.py`), and this process resolves references and ownership, writes, quarantines
    and commits in file order."""

    def __init__(
        self,
        session: Session,
        facility: str | None = None,
        progress: Progress | None = None,
        workers: int = 0,
    ):
        self.session = session
        self.workers = workers
        self.pool: Any = None
        self.default_facility = facility
        self.progress = progress
        self.org_paths: dict[str, str] = {
            code: path for code, path in session.execute(select(Facility.code, Facility.path))
        }
        self.warnings: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.accepted_ids: set[str] = set()
        self.quarantined_ids: set[str] = set()
        self.prescan_ids: set[str] = set()

    # ---- entry point -----------------------------------------------------------------------------
    def run(self, path: Path) -> IngestSummary:
        source = str(path.resolve())
        files = sources.discover(path)
        sub = self.session.scalars(
            select(Submission).where(Submission.source == source, Submission.status == "running")
        ).first()
        resumed = sub is not None
        if sub is None:
            sub = Submission(
                id=str(uuid.uuid4()),
                facility=self.default_facility,
                source=source,
                started_at=datetime.now(UTC),
                status="running",
                lag_histogram="{}",
            )
            self.session.add(sub)
            self.session.commit()
        summary = IngestSummary(sub.id, resumed=resumed, files=len(files))
        for name in TOTALS:
            setattr(summary, name, getattr(sub, name) or 0)
        self.sub = sub
        self.tally = Tally(sub)
        self.uncommitted = 0
        self.txn_started = time.monotonic()
        self._prescan(files)
        if resumed:
            # records quarantined before the interruption must not count as resolvable targets
            self.quarantined_ids.update(
                f"{t}/{i}"
                for t, i in self.session.execute(
                    select(Quarantine.res_type, Quarantine.res_id).where(
                        Quarantine.submission_id == sub.id, Quarantine.res_type.is_not(None)
                    )
                )
            )
        sqlite = self.session.get_bind().dialect.name == "sqlite"
        if sqlite:
            self.session.execute(text(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}"))
        init_worker(self.org_paths)
        if self.workers > 0 and len(self.prescan_ids) > PARALLEL_FROM:
            self.pool = workers_pool(self.workers, initializer=init_worker, initargs=(self.org_paths,))
        try:
            self._files(files, summary)
        finally:
            if self.pool is not None:
                self.pool.close()
                self.pool.join()
                self.pool = None
        if sqlite:  # the connection goes back to the pool: give the memory back
            self.session.execute(text("PRAGMA cache_size=-2000"))
        sub.status = "completed"
        sub.finished_at = datetime.now(UTC)
        self.tally.finish()
        self.session.commit()
        summary.reasons = self.reasons
        summary.warnings = self.warnings
        return summary

    def _prescan(self, files: list[Path]) -> None:
        ids = self.prescan_ids
        for f in files:
            for _n, _off, raw in sources.records(f, 0):
                # most writers put resourceType and id first: read them without parsing
                m = sources.HEAD.match(raw)
                if m is not None:
                    ids.add(f"{m.group(1).decode()}/{m.group(2).decode()}")
                    continue
                for _raw, obj in sources.expand(raw):
                    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                        ids.add(f"{obj.get('resourceType')}/{obj['id']}")

    # ---- one file --------------------------------------------------------------------------------
    def _checkpoint(self, path: Path) -> IngestCheckpoint:
        st = path.stat()
        key = str(path.resolve())
        ckpt = self.session.get(IngestCheckpoint, (self.sub.id, key))
        if ckpt is not None and (ckpt.size != st.st_size or ckpt.mtime_ns != st.st_mtime_ns):
            ckpt.offset, ckpt.lines, ckpt.done = 0, 0, False  # the file changed: start it again
        if ckpt is None:
            ckpt = IngestCheckpoint(
                submission_id=self.sub.id,
                path=key,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                offset=0,
                lines=0,
                done=False,
            )
            self.session.add(ckpt)
        return ckpt

    def _files(self, files: list[Path], summary: IngestSummary) -> None:
        """Batches of all files flow through one pipeline: workers prepare up to IN_FLIGHT
        batches ahead while this process writes them in file order, so the workers never wait
        for a file boundary."""
        # (worker result, file, its checkpoint, end offset, the batch's (line, raw), last of file)
        pending: deque[tuple[Any, Path, IngestCheckpoint, int, list[tuple[int, bytes]], bool]] = deque()

        def drain(limit: int) -> None:
            while len(pending) > limit:
                result, path, ckpt, end, records, last = pending.popleft()
                if records:
                    prepared = result.get() if hasattr(result, "get") else result
                    self._batch(path, records, prepared, summary)
                    ckpt.offset, ckpt.lines = end, records[-1][0]
                    self.uncommitted += len(records)
                if last:
                    ckpt.done = True
                # a write transaction is held at most COMMIT_SECONDS: on SQLite every other
                # writer (a read's audit entry too) waits for it
                if self.uncommitted >= COMMIT_EVERY or (
                    self.uncommitted and time.monotonic() - self.txn_started > COMMIT_SECONDS
                ):
                    self._commit(summary)
                    self.txn_started = time.monotonic()

        for path in files:
            ckpt = self._checkpoint(path)
            if ckpt.done:
                continue
            base_lines = ckpt.lines
            batch: list[tuple[int, bytes]] = []
            end = ckpt.offset
            for line_no, end_offset, raw in sources.records(path, ckpt.offset):
                if path.suffix == ".json":
                    batch.extend((base_lines + line_no, part) for part, _obj in sources.expand(raw))
                else:
                    batch.append((base_lines + line_no, raw))
                end = end_offset
                if len(batch) >= BATCH:
                    pending.append((self._submit(path, batch), path, ckpt, end, batch, False))
                    drain(IN_FLIGHT)
                    batch = []
            pending.append((self._submit(path, batch) if batch else None, path, ckpt, end, batch, True))
            drain(IN_FLIGHT)
        drain(0)
        self._commit(summary)

    def _submit(self, path: Path, batch: list[tuple[int, bytes]]) -> Any:
        args = (path.parent.name, self.default_facility, [raw for _line, raw in batch])
        if self.pool is None:
            return prepare(args)
        return self.pool.apply_async(prepare, (args,))

    def _commit(self, summary: IngestSummary) -> None:
        self.tally.flush(self.session, summary)
        self.uncommitted = 0
        self.session.commit()

    # ---- one batch -------------------------------------------------------------------------------
    def _batch(
        self, path: Path, records: list[tuple[int, bytes]], prepared: list[Prepared], summary: IngestSummary
    ) -> None:
        now = datetime.now(UTC)
        good: list[Prepared] = []
        bad: list[Refused] = []
        raw_of: dict[int, tuple[int, bytes]] = {}
        for (line, raw), p in zip(records, prepared, strict=True):
            for w in p.warnings:
                self.warnings[w] += 1
            if p.staged is None:
                bad.append((line, raw, p, p.issues))
                self.tally.account(p, accepted=False)
            else:
                raw_of[id(p)] = (line, raw)
                good.append(p)
        # references and id ownership, resolved against this submission and then the store
        accepted_ids, prescan_ids, quarantined_ids = self.accepted_ids, self.prescan_ids, self.quarantined_ids
        unresolved: dict[int, list[str]] = {}
        missing: set[str] = set()
        for i, p in enumerate(good):
            for local in p.refs:
                if local in accepted_ids or (local in prescan_ids and local not in quarantined_ids):
                    continue
                unresolved.setdefault(i, []).append(local)
                missing.add(local)
        in_store = existing(
            self.session,
            [m for m in missing if "/" in m and not m.startswith("urn:")],
            self.default_facility,
        )
        stored = current(self.session, [(p.rtype or "", p.rid or "") for p in good])
        accepted: list[Staged] = []
        for i, p in enumerate(good):
            issues = [
                ("reference:unresolved", "reference", f"{ref} is neither in this submission nor in the store")
                for ref in unresolved.get(i, [])
                if ref not in in_store
            ]
            prev = stored.get((p.rtype or "", p.rid or ""))
            owner = prev[3] if prev is not None else None
            if owner is not None and p.facility is not None and owner != p.facility:
                issues.append(
                    ("id-conflict", f"{p.rtype}.id", f"{p.rtype}/{p.rid} belongs to another facility")
                )
            if issues:
                line, raw = raw_of[id(p)]
                bad.append((line, raw, p, issues))
                self.tally.account(p, accepted=False)
                continue
            assert p.staged is not None
            accepted.append(p.staged)
            self.tally.account(p, accepted=True)
        counts = write_staged(self.session, accepted, now, stored)
        accepted_ids.update(f"{st.rtype}/{st.rid}" for st in accepted)
        self._quarantine(path, bad, now)
        summary.submitted += len(prepared)
        summary.accepted += len(accepted)
        summary.quarantined += len(bad)
        summary.created += counts["created"]
        summary.updated += counts["updated"]
        summary.unchanged += counts["unchanged"]
        if self.progress:
            self.progress(len(records))

    def _quarantine(self, path: Path, bad: list[Refused], now: datetime) -> None:
        refused = by_hash(bad)
        for _line, _raw, p, issues in refused.values():
            for code in {c for c, _p, _d in issues}:
                self.reasons[code] += 1
            if p.rtype:
                self.quarantined_ids.add(f"{p.rtype}/{p.rid}")
        quarantine(self.session, self.sub.id, path, refused, now)


def ingest(
    session: Session,
    path: Path,
    facility: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Import `path` (a file or folder) as one submission, resuming an interrupted one.
    `workers` processes parse, validate and index in parallel (default: one per core)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    n = workers if workers is not None else min(2, os.cpu_count() or 1)
    return Importer(session, facility, progress, n).run(path)

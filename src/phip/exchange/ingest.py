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

import hashlib
import os
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import insert, or_, select, text
from sqlalchemy.orm import Session

from phip.exchange import ndjson, profile, structure
from phip.store.bulkwrite import Staged, current, index_tuple, key_clause, stage, write_staged
from phip.store.models import IngestCheckpoint, Quarantine, Resource, Submission, SubmissionBatch
from phip.store.protect import encrypt_bytes
from phip.store.repository import content_hash
from phip.store.search_params import date_range, params_for, values
from phip.store.workers import pool as workers_pool

TYPE_ORDER = [
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "HealthcareService",
    "Schedule",
    "Group",
    "Patient",
    "RelatedPerson",
    "Coverage",
    "Flag",
    "CareTeam",
    "EpisodeOfCare",
    "Slot",
    "ServiceRequest",
    "Appointment",
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "DiagnosticReport",
    "Procedure",
    "Medication",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "Immunization",
    "DocumentReference",
    "CarePlan",
    "Goal",
    "ImagingStudy",
    "Device",
    "Claim",
    "ExplanationOfBenefit",
]
RANK = {t: i for i, t in enumerate(TYPE_ORDER)}
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
SOURCE_PREFIX = "urn:phip:submission:"
#: directory resources any facility may refer to, whoever registered them; every other type
#: (a Patient and what hangs from it) resolves only within the writer's own records
SHARED_TYPES = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "HealthcareService",
    "Endpoint",
    "Medication",
    "Substance",
    "Device",
    "CodeSystem",
    "ValueSet",
    "Questionnaire",
    "PlanDefinition",
    "ActivityDefinition",
    "Library",
    "Measure",
)

Progress = Callable[[int], None]


@dataclass
class IngestSummary:
    submission_id: str
    submitted: int = 0
    accepted: int = 0
    quarantined: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    files: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission_id,
            "files": self.files,
            "resumed": self.resumed,
            "reasons": dict(self.reasons.most_common()),
            "warnings": dict(self.warnings.most_common()),
            "submitted": self.submitted,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


def is_fhir_file(path: Path) -> bool:
    """False for NDJSON/JSON files that hold no FHIR resources (a bulk export's `log.ndjson`,
    a manifest): their first record has no resourceType. Unparseable files count as FHIR, so
    that their records are quarantined rather than skipped."""
    try:
        with open(path, "rb") if path.suffix == ".json" else ndjson.open_ndjson(path) as f:
            head = f.read(1 << 20) if path.suffix == ".json" else next((ln for ln in f if ln.strip()), b"")
    except OSError:
        return True
    try:
        obj = orjson.loads(head)
    except orjson.JSONDecodeError:
        return True
    return not isinstance(obj, dict) or "resourceType" in obj


def discover(path: Path) -> list[Path]:
    """NDJSON (plain or gzip: `.ndjson.gz`) and JSON files under `path` that hold FHIR
    resources, in dependency order of their resource type."""
    if path.is_file():
        return [path]
    files = [
        p
        for p in path.rglob("*")
        if p.is_file()
        and (p.suffix == ".json" or ndjson.is_ndjson(p))
        and p.name != "manifest.json"
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and is_fhir_file(p)
    ]

    def key(p: Path) -> tuple[int, str]:
        stem = p.name.split(".")[0]
        return RANK.get(stem, len(RANK)), str(p)

    return sorted(files, key=key)


def _records(path: Path, start: int) -> Iterator[tuple[int, int, bytes]]:
    """(line number, end offset, raw bytes) from byte `start`; a .json file is one record (a
    Bundle's entries are expanded by the caller)."""
    if path.suffix == ".json":
        if start == 0:
            data = path.read_bytes()
            yield 1, len(data), data
        return
    with ndjson.open_ndjson(path) as f:
        f.seek(start)  # a gzip file's offsets are those of its uncompressed lines
        offset = start
        for n, line in enumerate(f, start=1):
            offset += len(line)
            if line.strip():
                yield n, offset, line.rstrip(b"\r\n")


def _expand(raw: bytes) -> list[tuple[bytes, Any]]:
    """A Bundle file becomes its entries' resources; anything else is itself."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return [(raw, None)]
    if (
        isinstance(obj, dict)
        and obj.get("resourceType") == "Bundle"
        and obj.get("type") in ("collection", "batch", "transaction", "searchset", "history")
    ):
        out = []
        for e in obj.get("entry") or []:
            res = (e or {}).get("resource")
            if res is not None:
                out.append((orjson.dumps(res), res))
        return out
    return [(raw, obj)]


#: a `"reference": "…"` member anywhere in compact JSON. Inside a JSON string every quote is
#: escaped, so the pattern can only match a real member.
_REFERENCE = re.compile(rb'"reference":"((?:[^"\\]|\\.)*)"')


#: a record that starts `{"resourceType":"X","id":"Y",` (ids and type names need no escapes;
#: a Bundle is excluded because its entries are the records)
_HEAD = re.compile(rb'\{"resourceType":"(?!Bundle")([A-Za-z]+)","id":"([A-Za-z0-9.\-]{1,64})"[,}]')


def references(content: bytes) -> list[str]:
    """Every reference string in a serialised resource (contained resources included)."""
    out = []
    for m in _REFERENCE.finditer(content):
        v = m.group(1)
        out.append(orjson.loads(b'"' + v + b'"') if b"\\" in v else v.decode())
    return out


def local_ref(ref: str) -> str | None:
    """'Type/id' for a relative reference; None for contained, absolute and logical ones."""
    if ref.startswith("#") or "://" in ref:
        return None
    if ref.startswith("urn:"):
        return ref
    parts = ref.split("/_history/")[0].split("/")
    return f"{parts[0]}/{parts[1]}" if len(parts) == 2 and parts[0] and parts[1] else ref


def _clinical_date(res: dict[str, Any]) -> str | None:
    for p in params_for(res["resourceType"]):
        if p.name == "date" or p.name == "birthdate":
            for v in values(res, p):
                d = date_range(v)
                if d:
                    return d[0]
    return None


class Importer:
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
        from phip.orgunits.models import Facility

        self.org_paths: dict[str, str] = {
            code: path for code, path in session.execute(select(Facility.code, Facility.path))
        }
        self.batch_stats: dict[tuple[str, str], list[Any]] = {}
        self.warnings: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.accepted_ids: set[str] = set()
        self.quarantined_ids: set[str] = set()
        self.prescan_ids: set[str] = set()

    # ---- entry point -----------------------------------------------------------------------------
    def run(self, path: Path) -> IngestSummary:
        source = str(path.resolve())
        files = discover(path)
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
        for name in ("submitted", "accepted", "quarantined", "created", "updated", "unchanged"):
            setattr(summary, name, getattr(sub, name) or 0)
        self.sub = sub
        self.uncommitted = 0
        self.txn_started = time.monotonic()
        self.lags: Counter[int] = Counter(
            {int(k): v for k, v in orjson.loads(sub.lag_histogram or "{}").items()}
        )
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
        _init_worker(self.org_paths)
        if self.workers > 0 and len(self.prescan_ids) > PARALLEL_FROM:
            self.pool = workers_pool(self.workers, initializer=_init_worker, initargs=(self.org_paths,))
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
        self._finish_lags()
        self.session.commit()
        summary.reasons = self.reasons
        summary.warnings = self.warnings
        return summary

    def _prescan(self, files: list[Path]) -> None:
        ids = self.prescan_ids
        for f in files:
            for _n, _off, raw in _records(f, 0):
                # most writers put resourceType and id first: read them without parsing
                m = _HEAD.match(raw)
                if m is not None:
                    ids.add(f"{m.group(1).decode()}/{m.group(2).decode()}")
                    continue
                for _raw, obj in _expand(raw):
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
            for line_no, end_offset, raw in _records(path, ckpt.offset):
                if path.suffix == ".json":
                    batch.extend((base_lines + line_no, part) for part, _obj in _expand(raw))
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
        for (fac, month), (n, acc, quar, first, last, lags) in self.batch_stats.items():
            row = self.session.get(SubmissionBatch, (self.sub.id, fac, month))
            if row is None:
                row = SubmissionBatch(
                    submission_id=self.sub.id,
                    facility=fac,
                    month=month,
                    records=0,
                    accepted=0,
                    quarantined=0,
                    first_sent=first,
                    last_sent=last,
                    lag_histogram="{}",
                )
                self.session.add(row)
            row.records += n
            row.accepted += acc
            row.quarantined += quar
            if first:
                row.first_sent = min(row.first_sent or first, first)
            if last:
                row.last_sent = max(row.last_sent or last, last)
            if lags:
                merged = Counter({int(k): v for k, v in orjson.loads(row.lag_histogram or "{}").items()})
                merged.update(lags)
                row.lag_histogram = orjson.dumps({str(k): v for k, v in sorted(merged.items())}).decode()
        self.batch_stats.clear()
        self.uncommitted = 0
        sub = self.sub
        for name in ("submitted", "accepted", "quarantined", "created", "updated", "unchanged"):
            setattr(sub, name, getattr(summary, name))
        sub.lag_histogram = orjson.dumps({str(k): v for k, v in self.lags.items()}).decode()
        self.session.commit()

    def _finish_lags(self) -> None:
        total = sum(self.lags.values())
        if not total:
            return
        acc = 0
        for days in sorted(self.lags):
            acc += self.lags[days]
            if acc * 2 >= total:
                self.sub.lag_days_median = float(days)
                break
        self.sub.lag_days_max = float(max(self.lags))

    # ---- one batch -------------------------------------------------------------------------------
    def _batch(
        self, path: Path, records: list[tuple[int, bytes]], prepared: list[Prepared], summary: IngestSummary
    ) -> None:
        now = datetime.now(UTC)
        good: list[Prepared] = []
        bad: list[tuple[int, bytes, Prepared, list[tuple[str, str, str]]]] = []
        raw_of: dict[int, tuple[int, bytes]] = {}
        for (line, raw), p in zip(records, prepared, strict=True):
            for w in p.warnings:
                self.warnings[w] += 1
            if p.staged is None:
                bad.append((line, raw, p, p.issues))
                self._account(p, accepted=False)
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
        in_store = self._existing([m for m in missing if "/" in m and not m.startswith("urn:")])
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
                self._account(p, accepted=False)
                continue
            assert p.staged is not None
            accepted.append(p.staged)
            self._account(p, accepted=True)
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

    def _existing(self, refs: list[str]) -> set[str]:
        """The referenced records that exist. A calling facility resolves records of other
        facilities only for shared directory types (organisations, practitioners…): whether
        another facility holds some Patient is not for it to learn."""
        keys = [(r.split("/", 1)[0], r.split("/", 1)[1]) for r in refs]
        found: set[str] = set()
        caller = self.default_facility
        for i in range(0, len(keys), 500):
            q = select(Resource.res_type, Resource.res_id).where(
                key_clause(Resource.res_type, Resource.res_id, keys[i : i + 500]),
                Resource.deleted.is_(False),
            )
            if caller is not None:
                q = q.where(or_(Resource.res_type.in_(SHARED_TYPES), Resource.facility == caller))
            found.update(f"{t}/{i_}" for t, i_ in self.session.execute(q))
        return found

    def _quarantine(
        self,
        path: Path,
        bad: list[tuple[int, bytes, Prepared, list[tuple[str, str, str]]]],
        now: datetime,
    ) -> None:
        if not bad:
            return
        hashes = {hashlib.sha256(item[1]).hexdigest(): item for item in bad}
        known: set[str] = set()
        keys = list(hashes)
        for i in range(0, len(keys), 500):
            known.update(
                self.session.scalars(
                    select(Quarantine.raw_hash).where(Quarantine.raw_hash.in_(keys[i : i + 500]))
                )
            )
        rows = []
        for h, (line_no, raw, p, issues) in hashes.items():
            rtype, rid, fac = p.rtype, p.rid, p.facility
            for code in {c for c, _p, _d in issues}:
                self.reasons[code] += 1
            if rtype:
                self.quarantined_ids.add(f"{rtype}/{rid}")
            if h in known:
                continue  # the same bad record resubmitted: already quarantined with its reasons
            rows.append(
                {
                    "submission_id": self.sub.id,
                    "facility": fac,
                    "res_type": rtype,
                    "res_id": rid[:64] if rid else None,
                    "source": f"{path}:{line_no}",
                    "raw": encrypt_bytes(raw),  # personal data at rest: SM4
                    "reasons": orjson.dumps(
                        [{"code": c, "path": p, "detail": d} for c, p, d in issues]
                    ).decode(),
                    "received_at": now,
                    "raw_hash": h,
                }
            )
        if rows:
            self.session.execute(insert(Quarantine), rows)

    def _account(self, p: Prepared, accepted: bool) -> None:
        """Per facility and batch month (the month the facility's submission declares in
        `meta.source`, else the record's clinical month): counts, when it was sent, and lag."""
        fac, month, when, sent = p.facility, p.month, p.when, p.sent
        if fac is None or month is None:
            return
        st = self.batch_stats.get((fac, month))
        if st is None:
            st = self.batch_stats[(fac, month)] = [0, 0, 0, sent, sent, Counter()]
        st[0] += 1
        st[1 if accepted else 2] += 1
        if sent:
            if not st[3] or sent < st[3]:
                st[3] = sent
            if not st[4] or sent > st[4]:
                st[4] = sent
        if p.lag is not None and when:
            self.lags[p.lag] += 1
            st[5][p.lag] += 1
            sub = self.sub
            if not sub.period_start or when < sub.period_start:
                sub.period_start = when
            if not sub.period_end or when > sub.period_end:
                sub.period_end = when


class Prepared(NamedTuple):
    """One record after the CPU-heavy work (parse, validate, serialise, index) done by an import
    worker. `staged` is None when the record failed validation (`issues` says why)."""

    rtype: str | None
    rid: str | None
    facility: str | None
    issues: list[tuple[str, str, str]]
    warnings: list[str]
    refs: list[str]
    staged: Staged | None
    #: the clinical date (ISO), the facility's send time, the batch month and the lag in days
    when: str | None
    sent: str | None
    month: str | None
    lag: int | None


_ORG_PATHS: dict[str, str] = {}


def _init_worker(org_paths: dict[str, str]) -> None:
    _ORG_PATHS.clear()
    _ORG_PATHS.update(org_paths)


def prepare(args: tuple[str, str | None, list[bytes]]) -> list[Prepared]:
    """Parse, validate (structure, then profile), and for valid records extract references and
    stage them for the writer (stored bytes, content hash, index rows). Pure: runs in worker
    processes."""
    folder, default_facility, batch = args
    return [_prepare_one(raw, folder, default_facility) for raw in batch]


def _prepare_one(raw: bytes, folder: str, default_facility: str | None) -> Prepared:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        issue = [("json:parse-error", "$", "not valid JSON")]
        fac = _facility_of(folder, default_facility)
        return Prepared(None, None, fac, issue, [], [], None, None, None, None, None)
    is_obj = isinstance(obj, dict)
    rtype = obj.get("resourceType") if is_obj and isinstance(obj.get("resourceType"), str) else None
    fac = _facility_of(folder, default_facility)
    issues: list[tuple[str, str, str]] = []
    claimed = claimed_facility(obj) if is_obj else None
    if claimed is not None and fac is not None and claimed != fac:
        issues = [
            (
                "owner:source-mismatch",
                "meta.source",
                f"meta.source names facility {claimed[:40]}, but the record was submitted by {fac}",
            )
        ]
    elif not structure.is_valid(obj):
        issues = [(f"structure:{c}", p, d) for c, p, d in structure.validate_resource(obj)]
    warnings: list[str] = []
    if not issues:
        found = profile.check(obj)
        issues = [i for i in found if i[0] not in profile.WARNINGS]
        warnings = [i[0] for i in found if i[0] in profile.WARNINGS]
    meta = obj.get("meta") if is_obj and isinstance(obj.get("meta"), dict) else {}
    sent = meta.get("lastUpdated") if isinstance(meta.get("lastUpdated"), str) else None
    src = meta.get("source")
    src_month = src[-7:] if isinstance(src, str) and src.startswith(SOURCE_PREFIX) else None
    rid = obj.get("id") if is_obj and isinstance(obj.get("id"), str) else None
    if issues:
        return Prepared(rtype, rid, fac, issues, warnings, [], None, None, sent, src_month, None)
    if not rid:
        rid = _derived_id(obj, fac)
        obj["id"] = rid
    when = _clinical_date(obj) if rtype in RANK else None
    staged = stage(obj, fac, _ORG_PATHS.get(fac or ""), content_hash(obj), index_tuple(obj))
    local = [x for x in (local_ref(r) for r in references(staged.content)) if x is not None]
    return Prepared(
        rtype,
        rid,
        fac,
        [],
        warnings,
        local,
        staged,
        when,
        sent,
        src_month or (when[:7] if when else None),
        None if rtype in _BORN else _lag(when, sent),
    )


#: types whose date is a birth date, not a service's: no lag, no part of the period covered
_BORN = frozenset({"Patient", "RelatedPerson", "Person", "Practitioner"})


def _lag(when: str | None, sent: str | None) -> int | None:
    """Days between the data's own date and its sending (never negative)."""
    if not when or not sent:
        return None
    try:
        lag = (
            datetime.fromisoformat(sent.replace("Z", "+00:00"))
            - datetime.fromisoformat(when).replace(tzinfo=UTC)
        ).days
    except ValueError:
        return None
    return max(0, lag)


def _facility_of(folder: str, caller: str | None) -> str | None:
    """Who owns a submitted record: the calling facility when there is one (an API client, or
    `phip ingest --facility`), else the registered facility whose drop folder holds the file.
    Never the payload: `meta.source` is the submitter's claim, checked against the owner."""
    if caller is not None:
        return caller
    return folder if folder in _ORG_PATHS else None


def claimed_facility(res: dict[str, Any]) -> str | None:
    meta = res.get("meta")
    src = meta.get("source") if isinstance(meta, dict) else None
    if isinstance(src, str) and src.startswith(SOURCE_PREFIX):
        return src[len(SOURCE_PREFIX) :].split(":")[0]
    return None


def _derived_id(obj: dict[str, Any], fac: str | None) -> str:
    """A stable id for a record submitted without one: from its business identifier when it has
    one (so a resubmission updates the same record), else from its content."""
    ident = next((i for i in obj.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
    basis = (
        f"{fac}|{obj['resourceType']}|{ident.get('system')}|{ident['value']}"
        if ident
        else orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
    )
    return hashlib.blake2b(basis.encode(), digest_size=16).hexdigest()


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


def count_records(path: Path) -> int:
    """Lines to import (for a progress bar)."""
    n = 0
    for f in discover(path):
        if f.suffix == ".json":
            n += 1
        else:
            n += sum(1 for _ in ndjson.lines(f))
    return n

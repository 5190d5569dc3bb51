"""FHIR Bulk Data: asynchronous `$export` (system, Patient, Group) and `$import` jobs.

Kick-off returns 202 with a status URL; the status URL answers 202 (with X-Progress) while the
job runs and 200 with the manifest when it is done; files are downloaded with the same token.
Each job is a case of the workflow machine `bulk-job` (`bulk-job.states.yaml`: queued →
running → completed | failed → expired), its Task in the store; `bulk_job.status` projects it.
Exports hold pseudonyms, never the plain identity or phone numbers. Jobs run in a background
thread of the server process and their state is kept in the `bulk_job` table, so a status
survives a restart (an interrupted import resumes when kicked off again with the same file).
"""

from __future__ import annotations

import logging
import shutil
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from phip import workflow
from phip.store import outbox
from phip.store.codec import from_stored
from phip.store.errors import Gone, StoreError
from phip.store.models import BulkJob, Resource
from phip.store.protect import PROTECTED_SYSTEMS, is_phone, lookup_hash
from phip.store.repository import Scope

log = logging.getLogger("phip.bulk")
MACHINE = workflow.load(files("phip.exchange") / "bulk-job.states.yaml").name
SYSTEM = "system:bulk"
PSEUDONYM_SYSTEM = "https://phip.health/fhir/sid/pseudonym"


def pseudonymise(res: dict[str, Any]) -> dict[str, Any]:
    """Identity numbers become keyed pseudonyms; phone numbers are dropped."""
    idents = res.get("identifier")
    if isinstance(idents, list):
        res["identifier"] = [
            {"system": PSEUDONYM_SYSTEM, "value": lookup_hash(i["value"])[2:]}
            if isinstance(i, dict)
            and i.get("system") in PROTECTED_SYSTEMS
            and isinstance(i.get("value"), str)
            else i
            for i in idents
        ]
    telecom = res.get("telecom")
    if isinstance(telecom, list):
        kept = [t for t in telecom if not is_phone(t)]
        if kept:
            res["telecom"] = kept
        else:
            del res["telecom"]
    return res


def new_job(session: Session, kind: str, owner: str, request: str, folder: Path) -> BulkJob:
    job = BulkJob(
        id=uuid.uuid4().hex,
        kind=kind,
        owner=owner,
        request=request,
        status="queued",
        created_at=datetime.now(UTC),
        folder=str(folder),
        progress="",
        result="{}",
    )
    session.add(job)
    workflow.open_case(session, MACHINE, job.id, actor=owner, reason=kind)
    session.commit()
    return job


def _move(session: Session, job: BulkJob, transition: str, reason: str = "") -> None:
    """Take a transition of the job's case and project its state onto the row (a job from
    before the workflow layer has no case: its status is set directly)."""
    try:
        job.status = workflow.transition(
            session, MACHINE, job.id, transition, actor=SYSTEM, reason=reason
        ).state
    except (workflow.CaseNotFound, Gone):
        job.status = workflow.machine(MACHINE).step(job.status, transition).target


def _start(engine: Engine, job_id: str) -> None:
    with Session(engine) as s:
        job = s.get(BulkJob, job_id)
        assert job is not None
        _move(s, job, "start")
        s.commit()


def _finish(engine: Engine, job_id: str, status: str, result: dict[str, Any]) -> None:
    with Session(engine) as s:
        job = s.get(BulkJob, job_id)
        assert job is not None
        _move(s, job, "complete" if status == "completed" else "fail", str(result.get("error", "")))
        job.result, job.finished_at = orjson.dumps(result).decode(), datetime.now(UTC)
        job.progress = _RUNNING.pop(job_id, job.progress or "")[:200]
        s.commit()


#: progress of the jobs running in this process: kept in memory, because writing it to the
#: database from beside an import would wait for the import's own write transaction (SQLite
#: has one writer at a time)
_RUNNING: dict[str, str] = {}


def _progress(_engine: Engine, job_id: str, text: str) -> None:
    _RUNNING[job_id] = text


def progress_of(job: BulkJob) -> str:
    """What a job has done so far ('' when it has not started)."""
    return _RUNNING.get(job.id, job.progress or "")


def _failed(engine: Engine, job_id: str, exc: Exception) -> None:
    """A failed job: its status says so; the operator's log has the type and where it
    happened (not the message, which may quote a record)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/phip/" in f.filename] or frames
    where = "; ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in ours[-4:])
    log.error("bulk job %s failed: %s at %s", job_id, type(exc).__name__, where)
    _finish(engine, job_id, "failed", {"error": type(exc).__name__})


def run_export(
    engine: Engine,
    job_id: str,
    scope: Scope,
    types: list[str] | None,
    since: datetime | None,
    patient_ids: list[str] | None,
) -> None:
    folder = None
    try:
        _start(engine, job_id)
        with Session(engine) as s:
            job = s.get(BulkJob, job_id)
            assert job is not None
            folder = Path(job.folder)
        folder.mkdir(parents=True, exist_ok=True)
        q = select(Resource.res_type, Resource.content, Resource.version, Resource.last_updated).where(
            Resource.deleted.is_(False)
        )
        clause = scope.clause()
        if clause is not None:
            q = q.where(clause)
        if types:
            q = q.where(Resource.res_type.in_(types))
        if since is not None:
            q = q.where(Resource.last_updated >= since)
        if patient_ids is not None:
            q = q.where(Resource.patient_id.in_(patient_ids))
        counts: dict[str, int] = {}
        handles: dict[str, Any] = {}
        try:
            with Session(engine) as s:
                for n, (rtype, content, version, updated) in enumerate(
                    s.execute(
                        q.order_by(Resource.res_type, Resource.res_id).execution_options(yield_per=2000)
                    ),
                    start=1,
                ):
                    res = pseudonymise(from_stored(content, version, updated))
                    if rtype not in handles:
                        handles[rtype] = open(folder / f"{rtype}.ndjson", "wb")  # noqa: SIM115
                    handles[rtype].write(orjson.dumps(res) + b"\n")
                    counts[rtype] = counts.get(rtype, 0) + 1
                    if n % 20000 == 0:
                        _progress(engine, job_id, f"{n} resources")
        finally:
            for h in handles.values():
                h.close()
        _finish(engine, job_id, "completed", {"counts": counts})
    except Exception as exc:
        _failed(engine, job_id, exc)


def run_import(
    engine: Engine, job_id: str, path: Path, facility: str | None, var_dir: Path | None = None
) -> None:
    """Import, then deliver the outbox events it wrote (the person index links the Patients it
    brought, when a model exists); what is not delivered here the app's delivery loop does."""
    from phip.exchange.ingest import ingest

    try:
        _start(engine, job_id)
        seen = [0]

        def progress(n: int) -> None:
            seen[0] += n
            if seen[0] % 10000 < n:
                _progress(engine, job_id, f"{seen[0]} records")

        with Session(engine) as s:
            summary = ingest(s, path, facility, progress).as_dict()
            if var_dir is not None:
                summary["events"] = outbox.deliver(s, outbox.context(var_dir)).as_dict()
        _finish(engine, job_id, "completed", summary)
    except Exception as exc:
        _failed(engine, job_id, exc)
    finally:
        # the submitted body is not kept: its records are in the store, or quarantined with
        # their raw payload encrypted
        path.unlink(missing_ok=True)


def purge(engine: Engine, older_than: timedelta) -> int:
    """Delete the files of export jobs finished longer ago than `older_than` (the job row stays,
    marked expired, so its status says so); returns how many were purged."""
    cutoff = datetime.now(UTC) - older_than
    done = 0
    with Session(engine) as s:
        jobs = s.scalars(
            select(BulkJob).where(BulkJob.status.in_(("completed", "failed")), BulkJob.finished_at < cutoff)
        ).all()
        for job in jobs:
            folder = Path(job.folder)
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)  # the files go whatever the case says
            try:
                _move(s, job, "expire", f"files kept {older_than} after the job ended")
                s.commit()
            except (workflow.IllegalTransition, StoreError) as exc:  # one odd job stops no other
                s.rollback()
                log.warning("bulk job %s not expired: %s", job.id, type(exc).__name__)
                continue
            done += 1
    return done


def recover_interrupted(engine: Engine, jobs_dir: Path, orphan_age: timedelta = timedelta(hours=1)) -> int:
    """At server start: jobs left queued or running by a stopped process never finish, so they
    are marked failed and their files deleted (an `$import` body is raw personal data); folders
    under `jobs_dir` that no job names, older than `orphan_age`, are deleted too. Returns how many
    jobs and folders were cleared. (One server process per database: a second one starting
    would take the first one's running jobs for interrupted ones.)"""
    cleared = 0
    with Session(engine) as s:
        for job in s.scalars(select(BulkJob).where(BulkJob.status.in_(("queued", "running")))).all():
            shutil.rmtree(job.folder, ignore_errors=True)
            _move(s, job, "fail", "interrupted: the server stopped while it ran")
            job.finished_at = datetime.now(UTC)
            job.result = orjson.dumps({"error": "interrupted: the server stopped while it ran"}).decode()
            cleared += 1
        known = {Path(f).name for f in s.scalars(select(BulkJob.folder))}
        s.commit()
    if jobs_dir.is_dir():
        cutoff = datetime.now(UTC).timestamp() - orphan_age.total_seconds()
        for folder in jobs_dir.iterdir():
            if folder.is_dir() and folder.name not in known and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                cleared += 1
    return cleared


def start(target: Callable[..., None], *args: Any) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t

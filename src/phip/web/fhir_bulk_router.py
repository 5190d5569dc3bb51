"""FHIR Bulk Data endpoints: `$export` (system, Patient, Group), `$import`, job status, files.
Mounted before the FHIR router so that `$`-paths are not taken for resource types."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from phip.exchange import bulk
from phip.security.access import Access
from phip.store.models import BulkJob, Resource
from phip.web.body import read_body
from phip.web.deps import allow
from phip.web.headers import public_base
from phip.web.outcome import ApiError

router = APIRouter(prefix="/fhir", tags=["bulk"])


def _jobs_dir(request: Request) -> Path:
    return Path(request.app.state.settings.var_dir) / "bulk"


def _purge(request: Request) -> None:
    """Export files older than the retention period are deleted at every kick-off."""
    hours = request.app.state.settings.bulk_retention_hours
    bulk.purge(request.app.state.engine, timedelta(hours=hours))


EXPORT = "records.export"


def _kickoff(request: Request, access: Access, patient_ids: list[str] | None, what: str) -> Response:
    session = access.session
    params = request.query_params
    types = [t for t in (params.get("_type") or "").split(",") if t] or None
    since = None
    if params.get("_since"):
        try:
            since = datetime.fromisoformat(params["_since"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise ApiError(400, "invalid", "_since must be an instant") from exc
    fmt = params.get("_outputFormat")
    if fmt and fmt not in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
        raise ApiError(400, "not-supported", "only NDJSON output is supported")
    request_url = f"{public_base(request)}{request.url.path}" + (
        f"?{request.url.query}" if request.url.query else ""
    )
    _purge(request)
    job = bulk.new_job(session, "export", access.actor, request_url, _jobs_dir(request) / "tmp")
    job.folder = str(_jobs_dir(request) / job.id)
    access.log("export", what, "accepted")
    session.commit()
    bulk.start(bulk.run_export, request.app.state.engine, job.id, access.records(), types, since, patient_ids)
    return Response(
        status_code=202, headers={"Content-Location": f"{public_base(request)}/fhir/$bulk-status/{job.id}"}
    )


@router.get("/$export")
def export_system(request: Request, access: Access = allow(EXPORT, "export")) -> Response:
    """System-level export of everything the caller may read."""
    return _kickoff(request, access, None, "$export")


@router.get("/Patient/$export")
def export_patients(request: Request, access: Access = allow(EXPORT, "export")) -> Response:
    """Patient-level export: every Patient compartment the caller may read."""
    query = access.repo().scoped_select(Resource.res_id).where(Resource.res_type == "Patient")
    ids = [r[0] for r in access.session.execute(query)]
    return _kickoff(request, access, ids, "Patient/$export")


@router.get("/Group/{gid}/$export")
def export_group(gid: str, request: Request, access: Access = allow(EXPORT, "export")) -> Response:
    """Group-level export: the compartments of the group's Patient members."""
    group = access.repo().read("Group", gid)
    ids = [
        m["entity"]["reference"].split("/")[-1]
        for m in group.get("member") or []
        if str((m.get("entity") or {}).get("reference", "")).startswith("Patient/")
    ]
    return _kickoff(request, access, ids, f"Group/{gid}/$export")


@router.post("/$import")
async def import_ndjson(request: Request, access: Access = allow("records.import", "import")) -> Response:
    """Asynchronous import of an NDJSON body as the caller's facility (the same validation,
    quarantine and idempotence as `phip ingest`)."""
    session = access.session
    body = await read_body(request, request.app.state.settings.max_import_bytes)
    if not body.strip():
        raise ApiError(400, "invalid", "send the records as NDJSON in the request body")
    _purge(request)
    job = bulk.new_job(session, "import", access.actor, "$import", _jobs_dir(request) / "tmp")
    folder = _jobs_dir(request) / job.id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "submission.ndjson"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # removed once imported
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    job.folder = str(folder)
    access.log("import", f"$import/{job.id}", "accepted")
    session.commit()
    bulk.start(
        bulk.run_import,
        request.app.state.engine,
        job.id,
        path,
        access.writes_as,
        request.app.state.settings.var_dir,
    )
    return Response(
        status_code=202, headers={"Content-Location": f"{public_base(request)}/fhir/$bulk-status/{job.id}"}
    )


def _own_job(access: Access, job_id: str) -> BulkJob:
    job = access.session.get(BulkJob, job_id)
    if job is None or job.owner != access.actor:
        raise ApiError(404, "not-found", "no such job")
    return job


@router.get("/$bulk-status/{job_id}")
def status(job_id: str, request: Request, access: Access = allow("bulk.jobs", "bulk-status")) -> Response:
    job = _own_job(access, job_id)
    if job.status in ("queued", "running"):
        return Response(
            status_code=202, headers={"X-Progress": bulk.progress_of(job) or job.status, "Retry-After": "1"}
        )
    if job.status == "expired":
        raise ApiError(410, "deleted", "the job's files were deleted after the retention period")
    result = orjson.loads(job.result)
    if job.status == "failed":
        raise ApiError(500, "exception", "the job failed; the operator's log has the cause")
    if job.kind == "import":
        return Response(
            orjson.dumps(
                {"transactionTime": job.created_at.isoformat(), "request": job.request, "summary": result}
            ),
            media_type="application/json",
        )
    base = f"{public_base(request)}/fhir/$bulk-file/{job.id}"
    manifest = {
        "transactionTime": job.created_at.isoformat(),
        "request": job.request,
        "requiresAccessToken": True,
        "output": [
            {"type": t, "url": f"{base}/{t}.ndjson", "count": n} for t, n in sorted(result["counts"].items())
        ],
        "error": [],
    }
    return Response(orjson.dumps(manifest), media_type="application/json")


@router.get("/$bulk-file/{job_id}/{name}")
def download(job_id: str, name: str, access: Access = allow("bulk.jobs", "download")) -> Response:
    job = _own_job(access, job_id)
    # a job's files are named <Type>.ndjson: anything else (a long or odd name) is not one
    if not re.fullmatch(r"[A-Za-z]{1,64}\.ndjson", name):
        raise ApiError(404, "not-found", "no such file")
    path = Path(job.folder) / name
    if job.kind != "export" or job.status != "completed" or not path.is_file():
        raise ApiError(404, "not-found", "no such file")
    access.log("download", f"$bulk-file/{job_id}/{name}")
    access.session.commit()
    return FileResponse(path, media_type="application/fhir+ndjson")

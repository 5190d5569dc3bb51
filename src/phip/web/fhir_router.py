"""The FHIR R4 REST API at /fhir. Handlers parse, call the store with the caller's scope, audit,
and render; errors are OperationOutcomes."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from phip.exchange import service
from phip.exchange.structure import is_resource_type
from phip.security.access import Access
from phip.security.redact import query_target
from phip.store import plugins
from phip.store.codec import from_stored
from phip.store.errors import NotFound, StoreError
from phip.store.repository import Repository, Scope
from phip.store.search import search
from phip.web.body import parse_json, read_body
from phip.web.capability import capability_statement
from phip.web.deps import allow
from phip.web.headers import public_base
from phip.web.outcome import FHIR_JSON, ApiError

router = APIRouter(prefix="/fhir", tags=["fhir"])
READ, WRITE = "records.read", "records.write"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def _resource_response(res: dict[str, Any], status: int = 200, location: bool = False) -> Response:
    meta = res.get("meta") or {}
    headers = {"ETag": f'W/"{meta.get("versionId", "1")}"', "Last-Modified": str(meta.get("lastUpdated", ""))}
    if location:
        headers["Location"] = f"/fhir/{res['resourceType']}/{res['id']}/_history/{meta.get('versionId', '1')}"
    return _json(res, status, headers)


_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _check_type(rtype: str, rid: str | None = None) -> None:
    if not is_resource_type(rtype):
        raise ApiError(404, "not-supported", f"unknown resource type {rtype}")
    if rid is not None and not _ID.fullmatch(rid):
        raise ApiError(400, "invalid", "a resource id is 1 to 64 letters, digits, '-' or '.'")


def _audit(access: Access, action: str, target: str, outcome: str) -> None:
    access.log(action, target, outcome)
    access.session.commit()


async def _body(request: Request) -> Any:
    """The request's JSON body, within the size, depth and strictness limits."""
    return parse_json(await read_body(request, request.app.state.settings.max_body_bytes))


#: a version number or a count beyond this is nonsense (and would overflow a BIGINT)
MAX_INT = 2**31 - 1


def _if_match(request: Request) -> int | None:
    """The version in `If-Match: W/"3"` (or `"3"`, `3`); anything else is a 400."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    value = raw.strip()
    value = value[2:] if value.startswith("W/") else value
    value = value.strip('"')
    if not value.isdigit() or int(value) > MAX_INT:
        raise ApiError(400, "invalid", 'If-Match must be a version tag such as W/"3"')
    return int(value)


@router.get("/metadata")
def metadata() -> Response:
    """CapabilityStatement: what this server implements."""
    return _json(capability_statement())


@router.post("")
async def batch_or_transaction(request: Request, access: Access = allow(READ, "transaction")) -> Response:
    """A batch or transaction Bundle (transactions are all-or-nothing). Reading callers may send
    one; each write in it needs `records.write` (checked per entry against the caller's facility)."""
    from phip.exchange.bundles import Caller, EntryError, process

    session = access.session

    bundle = await _body(request)
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ApiError(400, "invalid", "the body must be a Bundle")
    entries = bundle.get("entry")
    if entries is not None and not isinstance(entries, list):
        raise ApiError(400, "invalid", "Bundle.entry must be a list")
    limit = request.app.state.settings.max_bundle_entries
    if entries and len(entries) > limit:
        raise ApiError(413, "too-costly", f"a Bundle may hold at most {limit:,} entries")
    if entries and not all(isinstance(e, dict) for e in entries):
        raise ApiError(400, "invalid", "every Bundle entry must be an object")
    caller = Caller(access.records(), access.writes_as, access.org_path)

    def audit_entry(action: str, target: str, outcome: str) -> None:
        access.log(action, target, outcome)

    try:
        status, body = process(session, bundle, caller, audit_entry)
    except EntryError as exc:
        raise ApiError(exc.status, "processing", exc.text, exc.issues) from exc
    if status != 200:  # a failed transaction: nothing stored, but the attempt is audited
        _audit(access, "transaction", "Bundle", "failed")
    else:
        session.commit()
    return _json(body, status)


@router.get("/{rtype}/{rid}/_history/{vid}")
def vread(
    rtype: str,
    rid: str,
    vid: int = Path(ge=1, le=MAX_INT),
    access: Access = allow(READ, "vread"),
) -> Response:
    _check_type(rtype, rid)
    try:
        res = access.repo().vread(rtype, rid, vid)
    except StoreError:
        _audit(access, "vread", f"{rtype}/{rid}/_history/{vid}", "not-found")
        raise
    _audit(access, "vread", f"{rtype}/{rid}/_history/{vid}", "ok")
    return _resource_response(res)


@router.get("/{rtype}/_history")
def type_history(
    rtype: str,
    access: Access = allow(READ, "history"),
    _count: int = Query(100, ge=1, le=1000),
) -> Response:
    _check_type(rtype)
    entries = access.repo().history(rtype, None, None, _count)
    _audit(access, "history", f"{rtype}/_history", "ok")
    return _json(_history_bundle(entries))


@router.get("/{rtype}/{rid}/_history")
def instance_history(rtype: str, rid: str, access: Access = allow(READ, "history")) -> Response:
    _check_type(rtype, rid)
    try:
        entries = access.repo().history(rtype, rid)
    except StoreError:
        _audit(access, "history", f"{rtype}/{rid}", "not-found")
        raise
    _audit(access, "history", f"{rtype}/{rid}", "ok")
    return _json(_history_bundle(entries))


def _history_bundle(entries: list[tuple[Any, str, str, int, bool]]) -> dict[str, Any]:
    out = []
    for res, t, i, v, deleted in entries:
        e: dict[str, Any] = {
            "fullUrl": f"{t}/{i}",
            "request": {"method": "DELETE" if deleted else "PUT", "url": f"{t}/{i}"},
            "response": {"status": "204" if deleted else "200", "etag": f'W/"{v}"'},
        }
        if res is not None:
            e["resource"] = res
        out.append(e)
    return {"resourceType": "Bundle", "type": "history", "total": len(out), "entry": out}


@router.get("/Patient/{rid}/$everything")
def everything(rid: str, request: Request, access: Access = allow(READ, "everything")) -> Response:
    """The Patient and every resource in its compartment the caller may see."""
    _check_type("Patient", rid)
    session = access.session
    repo = access.repo()
    try:
        repo.read("Patient", rid)  # the Patient itself must be visible, or 404
    except StoreError:
        _audit(access, "everything", f"Patient/{rid}", "not-found")
        raise
    compartment = Repository(
        session, Scope(org_path=repo.scope.org_path, facility=repo.scope.facility, patient_ids=(rid,))
    )
    from phip.store.models import Resource

    rows = session.execute(
        compartment.scoped_select(Resource.content, Resource.version, Resource.last_updated)
        .where(Resource.deleted.is_(False))
        .order_by(Resource.res_type, Resource.res_id)
        .limit(5000)
    )
    entries = [{"resource": from_stored(*r)} for r in rows]
    entries.sort(key=lambda e: e["resource"]["resourceType"] != "Patient")
    _audit(access, "everything", f"Patient/{rid}", "ok")
    return _json({"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})


@router.get("/{rtype}/{rid}")
def read(rtype: str, rid: str, access: Access = allow(READ, "read")) -> Response:
    _check_type(rtype, rid)
    session = access.session
    try:
        res = access.repo().read(rtype, rid)
    except StoreError as exc:
        _audit(access, "read", f"{rtype}/{rid}", "gone" if exc.status == 410 else "not-found")
        raise
    plugins.on_read(session, access.repo(), [res])  # e.g. the person index's Patient.link
    _audit(access, "read", f"{rtype}/{rid}", "ok")
    return _resource_response(res)


def _search(rtype: str, params: list[tuple[str, str]], request: Request, access: Access) -> Response:
    _check_type(rtype)
    target = query_target(rtype, params)  # no personal value in the audit log
    session = access.session
    try:
        result = search(access.repo(), rtype, params)
    except StoreError:
        _audit(access, "search", target, "error")
        raise
    plugins.on_read(session, access.repo(), [*result.resources, *result.included])
    base = public_base(request) + f"/fhir/{rtype}"
    links = [{"relation": "self", "url": f"{base}?{urlencode(params)}"}]
    if result.next_cursor:
        nxt = [(k, v) for k, v in params if k != "_cursor"] + [("_cursor", result.next_cursor)]
        links.append({"relation": "next", "url": f"{base}?{urlencode(nxt)}"})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {"fullUrl": f"{base}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in result.resources
        ]
        + [
            {
                "fullUrl": f"{public_base(request)}/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "include"},
            }
            for r in result.included
        ],
    }
    if result.total is not None:
        bundle["total"] = result.total
    _audit(access, "search", target, "ok")
    return _json(bundle)


@router.get("/{rtype}")
def search_get(rtype: str, request: Request, access: Access = allow(READ, "search")) -> Response:
    return _search(rtype, list(request.query_params.multi_items()), request, access)


@router.post("/{rtype}/_search")
async def search_post(rtype: str, request: Request, access: Access = allow(READ, "search")) -> Response:
    form = await request.form()
    params = [(k, str(v)) for k, v in form.multi_items()] + list(request.query_params.multi_items())
    return _search(rtype, params, request, access)


def _writer(access: Access) -> str:
    """The facility the caller writes as (`allow(WRITE)` made sure there is one)."""
    facility = access.writes_as
    assert facility is not None
    return facility


def _validated(access: Access, res: Any, rtype: str, action: str, target: str) -> dict[str, Any]:
    if not isinstance(res, dict) or res.get("resourceType") != rtype:
        raise ApiError(400, "invalid", f"the body must be a {rtype} resource")
    issues = service.validate(access.session, res, scope=access.records(), facility=access.writes_as)
    if issues:
        _audit(access, action, target, "invalid")
        raise ApiError(422, "processing", "the resource is not valid", issues)
    return res


@router.post("/{rtype}")
async def create(rtype: str, request: Request, access: Access = allow(WRITE, "create")) -> Response:
    _check_type(rtype)
    _writer(access)
    res = await _body(request)
    cond = request.headers.get("if-none-exist")
    if cond:
        from urllib.parse import parse_qsl

        found = search(access.repo(), rtype, [*parse_qsl(cond), ("_count", "2")])
        if len(found.resources) > 1:
            raise ApiError(412, "duplicate", "If-None-Exist matches more than one resource")
        if found.resources:
            _audit(access, "create", f"{rtype}/{found.resources[0]['id']}", "exists")
            return _resource_response(found.resources[0], 200)
    res = _validated(access, res, rtype, "create", rtype)
    res["id"] = str(uuid.uuid4())  # the server assigns ids on create
    written = access.repo().create(res, org_path=access.org_path)  # stored as the caller's, audited
    access.session.commit()
    return _resource_response(written.resource, 201, location=True)


@router.put("/{rtype}/{rid}")
async def update(rtype: str, rid: str, request: Request, access: Access = allow(WRITE, "update")) -> Response:
    _check_type(rtype, rid)
    _writer(access)
    return await _update(rtype, rid, request, access)


async def _update(rtype: str, rid: str, request: Request, access: Access) -> Response:
    body = request.state.body if hasattr(request.state, "body") else await _body(request)
    version = _if_match(request)
    res = _validated(access, body, rtype, "update", f"{rtype}/{rid}")
    # the repository refuses another facility's record (409, audited) and audits the write
    written = access.repo().update(rtype, rid, res, if_match=version, org_path=access.org_path)
    access.session.commit()
    return _resource_response(written.resource, 201 if written.resource["meta"]["versionId"] == "1" else 200)


@router.put("/{rtype}")
async def conditional_update(
    rtype: str, request: Request, access: Access = allow(WRITE, "update")
) -> Response:
    _check_type(rtype)
    _writer(access)
    params = list(request.query_params.multi_items())
    if not params:
        raise ApiError(400, "invalid", "a conditional update needs search parameters")
    found = search(access.repo(), rtype, [*params, ("_count", "2")])
    if len(found.resources) > 1:
        raise ApiError(412, "multiple-matches", "the condition matches more than one resource")
    body = await _body(request)
    if found.resources:
        rid = found.resources[0]["id"]
    else:
        given = body.get("id") if isinstance(body, dict) else None
        rid = given if isinstance(given, str) and given else str(uuid.uuid4())
        _check_type(rtype, rid)
    if isinstance(body, dict):
        body["id"] = rid
    request.state.body = body
    return await _update(rtype, rid, request, access)


@router.delete("/{rtype}/{rid}")
def delete(rtype: str, rid: str, access: Access = allow(WRITE, "delete")) -> Response:
    _check_type(rtype, rid)
    _writer(access)
    # another facility's record reads as missing; the repository audits either way
    if not access.repo().delete(rtype, rid):
        raise NotFound(f"{rtype}/{rid} not found")
    access.session.commit()
    return Response(status_code=204)

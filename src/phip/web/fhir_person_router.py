"""`Patient/$match` (FHIR MPI query): candidates for a Patient from the person index, scored with
the trained model, limited to what the caller may see; and `Person/{id}`, a person's golden
record as a FHIR Person."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from phip.exchange.structure import validate_resource
from phip.identity.features import from_patient
from phip.identity.fhir_person import Visibility, person_resource
from phip.identity.person import derive
from phip.identity.realtime import PersonIndex
from phip.identity.store_link import load_scorer
from phip.security.access import Access
from phip.store.errors import StoreError
from phip.web.body import parse_json, read_body
from phip.web.deps import allow
from phip.web.outcome import ApiError

router = APIRouter(prefix="/fhir", tags=["empi"])
GRADE_EXT = "http://hl7.org/fhir/StructureDefinition/match-grade"
MAX_COUNT = 100


def _param(params: dict[str, Any], name: str) -> Any:
    for p in params.get("parameter") or []:
        if isinstance(p, dict) and p.get("name") == name:
            return p.get("resource", p.get("valueBoolean", p.get("valueInteger")))
    return None


@router.post("/Patient/$match")
async def match(request: Request, access: Access = allow("records.read", "match")) -> Response:
    """Parameters: `resource` (a Patient), optional `onlyCertainMatches`, `count`."""
    params = parse_json(await read_body(request, request.app.state.settings.max_body_bytes))
    res = _param(params, "resource") if isinstance(params, dict) else None
    if not isinstance(res, dict) or res.get("resourceType") != "Patient":
        raise ApiError(400, "invalid", "Parameters.resource must be a Patient")
    problems = validate_resource(res, "Parameters.resource.")
    if problems:  # the same structure rules as a write: a malformed Patient is never compared
        raise ApiError(400, "structure", "Parameters.resource is not a valid Patient", problems[:20])
    only_certain = bool(_param(params, "onlyCertainMatches"))
    count = _param(params, "count")
    count = 10 if count is None else count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ApiError(400, "invalid", f"Parameters.count must be an integer from 1 to {MAX_COUNT}")
    scorer = load_scorer(request.app.state.settings.var_dir)
    if scorer is None:
        raise ApiError(409, "not-supported", "no identity model yet: run `phip empi link-store`")
    person = derive(from_patient({**res, "id": res.get("id") or "incoming"}))
    session, repo = access.session, access.repo()
    entries = []
    for cand in PersonIndex(session, scorer).match(person):
        if only_certain and cand.grade != "certain":
            continue
        rtype, _, rid = cand.record_id.partition("/")
        try:
            found = repo.read(rtype, rid)  # the caller's scope decides what is shown
        except StoreError:
            continue
        entries.append(
            {
                "fullUrl": f"{rtype}/{rid}",
                "resource": found,
                "search": {
                    "mode": "match",
                    "score": round(cand.probability, 6),
                    "extension": [{"url": GRADE_EXT, "valueCode": cand.grade}],
                },
            }
        )
        if len(entries) >= count:
            break
    access.log("match", "Patient/$match", "ok", f"{len(entries)} candidates")
    session.commit()
    body = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
    return Response(orjson.dumps(body), media_type="application/fhir+json")


@router.get("/Person/{person_id}")
def read_person(
    person_id: Annotated[str, Path(max_length=64)],
    access: Access = allow("records.read", "read"),
) -> Response:
    """The golden record of a person of the index, with links to the Patient records the caller
    may see (404 when they see none); a merged-away person (a pointer to the one it was merged
    into) only for a caller who may see a record that was in it."""
    res = person_resource(access.session, person_id, Visibility(access.repo()))
    access.log("read", f"Person/{person_id}", "ok" if res else "not-found")
    access.session.commit()
    if res is None:
        raise ApiError(404, "not-found", f"Person/{person_id} not found")
    return Response(orjson.dumps(res), media_type="application/fhir+json")

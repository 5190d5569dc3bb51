"""A resident's record for clinicians: find a resident among the patients of the clinician's
facility, then see their cross-facility timeline (every facility's records of the same person,
joined through the person index). The other facilities' records open only on evidence of care
(a referral to the clinician's facility, the resident's consent, a visit there: `security.care`),
never because the facility holds a Patient record; every view is audited with its ground."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity import persons
from phip.identity.models import PersonRecordRow
from phip.orgunits.models import Facility
from phip.security.care import ground
from phip.store.errors import StoreError
from phip.store.models import Resource
from phip.store.search import InvalidSearch, search
from phip.web.console.base import page_context, render
from phip.web.console.i18n import Translator
from phip.web.deps import SessionDep

router = APIRouter(include_in_schema=False)
MAX_EVENTS = 500
#: resource type → the elements holding its date, in order of preference
DATES: dict[str, tuple[str, ...]] = {
    "Encounter": ("period.start",),
    "Condition": ("recordedDate", "onsetDateTime"),
    "Observation": ("effectiveDateTime", "issued"),
    "MedicationRequest": ("authoredOn",),
    "MedicationDispense": ("whenHandedOver",),
    "Immunization": ("occurrenceDateTime",),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "ServiceRequest": ("authoredOn",),
    "Appointment": ("start",),
}
CODES = ("code", "vaccineCode", "medicationCodeableConcept", "type", "serviceType")


def _get(res: dict[str, Any], path: str) -> Any:
    cur: Any = res
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _text(res: dict[str, Any]) -> str:
    for key in CODES:
        cc = res.get(key)
        if isinstance(cc, list):
            cc = cc[0] if cc else None
        if isinstance(cc, dict):
            if cc.get("text"):
                return str(cc["text"])
            for c in cc.get("coding") or []:
                if c.get("display") or c.get("code"):
                    return str(c.get("display") or c.get("code"))
    return ""


def _value(res: dict[str, Any], unit: Any = str) -> str:
    """A measured value with its unit (`unit` turns a UCUM code into words)."""
    q = res.get("valueQuantity")
    if isinstance(q, dict) and q.get("value") is not None:
        return f"{q['value']} {unit(q.get('code') or q.get('unit') or '')}".strip()
    parts = [_value(c, unit) for c in res.get("component") or [] if isinstance(c, dict)]
    return " / ".join(p for p in parts if p)


def timeline(session: Session, patient_ids: list[str], t: Translator | None = None) -> list[dict[str, Any]]:
    """The patients' records, newest first (kinds, statuses and units in words with `t`)."""
    t = t or Translator("zh-CN")
    rows = session.execute(
        select(Resource.res_type, Resource.res_id, Resource.facility, Resource.content)
        .where(
            Resource.patient_id.in_(patient_ids),
            Resource.res_type.in_(list(DATES)),
            Resource.deleted.is_(False),
        )
        .limit(MAX_EVENTS * 4)
    ).all()
    shown = sorted({fac for _, _, fac, _ in rows if fac})
    names = dict(session.execute(select(Facility.code, Facility.name).where(Facility.code.in_(shown))).all())
    out = []
    for rtype, rid, fac, content in rows:
        res = orjson.loads(content)
        when = next((v for p in DATES[rtype] if (v := _get(res, p))), None)
        out.append(
            {
                "date": str(when or "")[:10],
                "type": rtype,
                "kind": t.resource(rtype),
                "id": rid,
                "facility": names.get(fac or "", fac or ""),
                "what": _text(res),
                "value": _value(res, t.ucum),
                "status": t.record_status(
                    res.get("status") or res.get("clinicalStatus", {}).get("coding", [{}])[0].get("code", "")
                ),
            }
        )
    out.sort(key=lambda e: (e["date"], e["type"], e["id"]), reverse=True)
    return out[:MAX_EVENTS]


def _name(res: dict[str, Any]) -> str:
    for n in res.get("name") or []:
        if n.get("text"):
            return str(n["text"])
        return "".join([*((n.get("family") and [n["family"]]) or []), *n.get("given", [])])
    return ""


#: residents listed per page
PAGE = 50


@router.get("/records")
def records_search(
    request: Request, q: str = "", cursor: str = "", session: Session = SessionDep
) -> Response:
    """The facility's residents, most recently updated first, 50 a page with how many there are;
    or those whose name matches `q`."""
    ctx = page_context(request, session, "records")
    ctx.access.require("records.read", "search", "Patient")
    found: list[dict[str, Any]] = []
    repo = ctx.access.repo()
    wanted = [("name", q.strip())] if q.strip() else []
    try:
        total = search(repo, "Patient", [*wanted, ("_summary", "count")]).total
        page = [*wanted, ("_count", str(PAGE)), ("_sort", "-_lastUpdated")]
        result = search(repo, "Patient", page + ([("_cursor", cursor)] if cursor else []))
        hits, following = result.resources, result.next_cursor
    except InvalidSearch:
        total, hits, following = 0, [], None
    found = [
        {"id": r["id"], "name": _name(r), "sex": r.get("gender", ""), "birth_date": r.get("birthDate", "")}
        for r in hits
    ]
    ctx.access.log("search", "Patient", "ok", f"{len(found)} found")
    session.commit()
    return render(ctx, "records.html", q=q, found=found, total=total, following=following, cursor=cursor)


@router.get("/records/patient/{patient_id}")
def record_view(request: Request, patient_id: str, session: Session = SessionDep) -> Response:
    ctx = page_context(request, session, "records")
    access = ctx.access
    access.require("records.read", "read", f"Patient/{patient_id}")
    repo = access.repo()
    try:
        patient = repo.read("Patient", patient_id)
    except StoreError as exc:
        raise ctx.deny("read", f"Patient/{patient_id}", ctx.t("forbidden_text")) from exc
    row = session.get(PersonRecordRow, f"Patient/{patient_id}")
    records = [f"Patient/{patient_id}"]
    if row is not None and row.person_id:
        records = persons.members(session, [row.person_id]).get(row.person_id, records)
    every = sorted({r.split("/", 1)[1] for r in records if r.startswith("Patient/")} | {patient_id})
    facility = access.area().facility or "-"
    own = _own_records(session, every, facility)
    # other facilities' records open only on evidence of care, never on holding a Patient record
    cared = access.care and len(own) < len(every)
    care = ground(session, facility, own, every, viewer=access.actor) if cared else None
    ids = every if care is not None else own
    events = timeline(session, ids, ctx.t)
    facilities = sorted({e["facility"] for e in events})
    for rid in ids:
        why = care.reason() if care is not None and rid not in own else "own facility's record"
        access.log("read", f"Patient/{rid}", "ok", f"record view; {why}")
    session.commit()
    return render(
        ctx,
        "record.html",
        patient=patient,
        name=_name(patient),
        person=row.person_id if row else None,
        records=ids,
        events=events,
        facilities=facilities,
        care=care.kind if care is not None else None,
        # the same notice whether or not other facilities hold records: it must not tell
        withheld=access.care and care is None,
    )


def _own_records(session: Session, ids: list[str], facility: str) -> list[str]:
    rows = session.scalars(
        select(Resource.res_id).where(
            Resource.res_type == "Patient", Resource.res_id.in_(ids), Resource.facility == facility
        )
    )
    return sorted(rows)

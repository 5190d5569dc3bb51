"""Stewardship of the person index over HTTP: the review queue of possible matches, manual link,
unlink, merge and revert (unmerge), a person's golden record and its decision history.

Stewards are the province, prefecture, county and facility administrators, each within their
data scope: a queue item shows only when the caller may see both records, a decision needs a
visible record on each side. Administrators see values masked (with the comparison levels);
a facility administrator sees their own facility's records plainly.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity import decisions, persons, review
from phip.identity.display import golden_view, pair_levels, record_view
from phip.identity.fhir_person import Visibility
from phip.identity.models import PersonEvent, PersonRecordRow, PersonRow, ReviewItem
from phip.identity.realtime import load_features
from phip.security import audit
from phip.security.principals import STEWARD_ROLES, Principal
from phip.store.repository import Repository
from phip.web.deps import PrincipalDep, SessionDep
from phip.web.outcome import ApiError

router = APIRouter(prefix="/api/empi", tags=["person index"])


class LinkIn(BaseModel):
    record: str
    person: str
    reason: str = ""


class UnlinkIn(BaseModel):
    record: str
    reason: str = ""


class MergeIn(BaseModel):
    source: str
    target: str
    reason: str = ""


class DecideIn(BaseModel):
    decision: str  # match / no-match
    reason: str = ""


class RevertIn(BaseModel):
    reason: str = ""


def _steward(session: Session, who: Principal, action: str) -> None:
    if who.role not in STEWARD_ROLES:
        audit.record(session, who.actor, who.role, action, "person-index", "denied")
        session.commit()
        raise ApiError(403, "forbidden", "only administrators decide on the person index")


def _masked(who: Principal) -> bool:
    return who.role != "facility_admin"


def _view(session: Session, record: str, masked: bool) -> dict[str, Any]:
    row = session.get(PersonRecordRow, record)
    assert row is not None
    return record_view(load_features(row.features), row.person_id, row.link_status, row.link_prob, masked)


def _run(session: Session, who: Principal, action: str, fn: Any, *args: Any) -> dict[str, Any]:
    try:
        event = fn(session, who.actor, who.role, *args)
    except decisions.DecisionError as exc:
        session.rollback()
        raise ApiError(exc.status, exc.code, str(exc)) from exc
    session.commit()
    return _event(event)


def _event(e: PersonEvent) -> dict[str, Any]:
    return {
        "decision": e.id,
        "action": e.action,
        "actor": e.actor,
        "at": e.at.isoformat(),
        "persons": e.persons.split(),
        "reason": e.reason,
        "reverted_by": e.reverted_by,
        "reverts": e.reverts,
    }


def _records_of(session: Session, person: str) -> list[str]:
    return persons.members(session, [person]).get(person, [])


def _deny(session: Session, who: Principal, action: str, target: str) -> None:
    audit.record(session, who.actor, who.role, action, target[:200], "denied")
    session.commit()
    raise ApiError(403, "forbidden", "outside your data scope")


def _need(session: Session, who: Principal, visible: Visibility, records: list[str], action: str) -> None:
    """At least one of these records must be in the caller's scope."""
    if not any(visible(r) for r in records):
        _deny(session, who, action, " ".join(records))


# ---- the review queue ---------------------------------------------------------------------------
@router.get("/review")
def review_queue(
    status: str = "open",
    limit: int = 20,
    offset: int = 0,
    session: Session = SessionDep,
    who: Principal = PrincipalDep,
) -> dict[str, Any]:
    """Possible matches, most likely first, both records side by side with comparison levels."""
    _steward(session, who, "empi-review-list")
    visible, masked = Visibility(Repository(session, who.scope())), _masked(who)
    out = []
    for item in review.items(session, status, limit=max(1, min(limit, 200)) * 5, offset=offset):
        if not (visible(item.record_id) and visible(item.other_id)):
            continue
        a, b = _view(session, item.record_id, masked), _view(session, item.other_id, masked)
        ra, rb = session.get(PersonRecordRow, item.record_id), session.get(PersonRecordRow, item.other_id)
        assert ra is not None and rb is not None
        levels = pair_levels(load_features(ra.features), load_features(rb.features))
        out.append({**review.as_dict(item), "left": a, "right": b, "levels": levels})
        if len(out) >= limit:
            break
    audit.record(session, who.actor, who.role, "empi-review-list", "person-index", "ok", f"{len(out)} items")
    session.commit()
    return {"counts": review.counts(session), "items": out}


@router.post("/review/{item_id}")
def decide(
    item_id: int, body: DecideIn, session: Session = SessionDep, who: Principal = PrincipalDep
) -> dict[str, Any]:
    _steward(session, who, "empi-review")
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ApiError(404, "not-found", f"no review item {item_id}")
    visible = Visibility(Repository(session, who.scope()))
    if not (visible(item.record_id) and visible(item.other_id)):
        _deny(session, who, "empi-review", f"review/{item_id}")
    return _run(session, who, "review", decisions.decide_review, item_id, body.decision, body.reason)


# ---- manual decisions --------------------------------------------------------------------------
@router.post("/link")
def link(body: LinkIn, session: Session = SessionDep, who: Principal = PrincipalDep) -> dict[str, Any]:
    _steward(session, who, "empi-link")
    visible = Visibility(Repository(session, who.scope()))
    _need(session, who, visible, [body.record], "empi-link")
    _need(session, who, visible, _records_of(session, body.person), "empi-link")
    return _run(session, who, "link", decisions.link, body.record, body.person, body.reason)


@router.post("/unlink")
def unlink(body: UnlinkIn, session: Session = SessionDep, who: Principal = PrincipalDep) -> dict[str, Any]:
    _steward(session, who, "empi-unlink")
    _need(session, who, Visibility(Repository(session, who.scope())), [body.record], "empi-unlink")
    return _run(session, who, "unlink", decisions.unlink, body.record, body.reason)


@router.post("/merge")
def merge(body: MergeIn, session: Session = SessionDep, who: Principal = PrincipalDep) -> dict[str, Any]:
    _steward(session, who, "empi-merge")
    visible = Visibility(Repository(session, who.scope()))
    for person in (body.source, body.target):
        _need(session, who, visible, _records_of(session, person), "empi-merge")
    return _run(session, who, "merge", decisions.merge, body.source, body.target, body.reason)


@router.post("/decisions/{event_id}/revert")
def revert(
    event_id: int, body: RevertIn, session: Session = SessionDep, who: Principal = PrincipalDep
) -> dict[str, Any]:
    """Undo a decision exactly; reverting a merge is the unmerge."""
    _steward(session, who, "empi-revert")
    event = session.get(PersonEvent, event_id)
    if event is None:
        raise ApiError(404, "not-found", f"no decision {event_id}")
    touched = sorted(orjson.loads(event.after)["records"])
    _need(session, who, Visibility(Repository(session, who.scope())), touched, "empi-revert")
    return _run(session, who, "revert", decisions.revert, event_id, body.reason)


# ---- persons -----------------------------------------------------------------------------------
@router.get("/persons/{person_id}")
def person(person_id: str, session: Session = SessionDep, who: Principal = PrincipalDep) -> dict[str, Any]:
    """A person's golden record (values with provenance), records and decisions, within scope."""
    _steward(session, who, "empi-person")
    row = session.get(PersonRow, person_id)
    visible, masked = Visibility(Repository(session, who.scope())), _masked(who)
    records = _records_of(session, person_id)
    shown = [r for r in records if visible(r)]
    if row is None or (records and not shown) or (not records and row.status != "merged"):
        audit.record(session, who.actor, who.role, "empi-person", person_id, "not-found")
        session.commit()
        raise ApiError(404, "not-found", f"no person {person_id} in your scope")
    golden = persons.golden_record(session, person_id) or {}
    events = session.scalars(
        select(PersonEvent).where(PersonEvent.persons.contains(person_id)).order_by(PersonEvent.id)
    ).all()
    audit.record(session, who.actor, who.role, "empi-person", person_id, "ok")
    session.commit()
    return {
        "person": person_id,
        "status": row.status,
        "merged_into": row.merged_into,
        "golden": golden_view(golden, set(shown), masked),
        "records": [_view(session, r, masked) for r in sorted(shown)],
        "hidden_records": len(records) - len(shown),
        "decisions": [_event(e) for e in events],
    }

"""Stewardship of the person index over HTTP: the review queue of possible matches, manual link,
unlink, merge and revert (unmerge), a person's golden record and its decision history.

Stewards are the province, prefecture, county and facility administrators, each within their
data scope: a queue item shows (and counts) only when the caller may see both records, a
decision needs a visible record on each side. A person, its golden record and its decisions
exist for a caller only when they may see a record that is or was in it; a decision only when
they may see a record it names. Anything else answers exactly as what does not exist (404, the
same words), so ids outside the caller's scope are no oracle. Administrators see values masked
(with the comparison levels); a facility administrator sees their own facility's records plainly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from phip.identity import decisions, persons, review
from phip.identity.display import golden_view, pair_levels, record_view
from phip.identity.fhir_person import Visibility, may_see_person, visible_items
from phip.identity.models import PersonEvent, PersonRecordRow, PersonRow, ReviewItem
from phip.identity.realtime import load_features
from phip.security.access import Access
from phip.web.deps import allow
from phip.web.outcome import ApiError
from phip.workflow import IllegalTransition

router = APIRouter(prefix="/api/empi", tags=["person index"])
#: ids are 64-bit in the database: anything larger is no id (422 before any query)
MAX_ID = 2**63 - 1
STATUSES = "^(open|match|no-match|stale)$"


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


STEWARD = "person_index.steward"


def _view(session: Session, record: str, masked: bool) -> dict[str, Any]:
    row = session.get(PersonRecordRow, record)
    assert row is not None
    return record_view(load_features(row.features), row.person_id, row.link_status, row.link_prob, masked)


def _visibility(access: Access) -> Visibility:
    return Visibility(access.repo())


def _run(access: Access, fn: Any, *args: Any) -> dict[str, Any]:
    session = access.session
    try:
        event = fn(session, access.actor, access.role_name, *args)
    except decisions.DecisionError as exc:
        session.rollback()
        raise ApiError(exc.status, exc.code, str(exc)) from exc
    except IllegalTransition as exc:  # e.g. an item decided already: the message names what is allowed
        session.rollback()
        raise ApiError(409, "business-rule", str(exc)) from exc
    session.commit()
    return _event(event, _visibility(access))


def _event(e: PersonEvent, visible: Callable[[str], bool]) -> dict[str, Any]:
    """A decision as the caller may see it: the records it names that they may see and the
    persons those records were in (records and persons outside the caller's scope are left out,
    not even counted)."""
    named = decisions.named(e)
    seen = sorted(r for r in named if visible(r))
    theirs = {p for r in seen for p in named[r]}
    touched = e.persons.split()
    shown = [p for p in touched if p in theirs]
    return {
        "decision": e.id,
        "action": e.action,
        "actor": e.actor,
        "at": e.at.isoformat(),
        "persons": shown,
        "records": seen,
        "reason": e.reason,
        "reverted_by": e.reverted_by,
        "reverts": e.reverts,
    }


def _records_of(session: Session, person: str) -> list[str]:
    return persons.members(session, [person]).get(person, [])


def _not_found(access: Access, action: str, target: str, text: str) -> None:
    """Out of scope answers as not found (the same words as for what does not exist); the audit
    log says it was refused."""
    access.log(action, target, "denied")
    access.session.commit()
    raise ApiError(404, "not-found", text)


def _need_record(access: Access, visible: Visibility, record: str, action: str) -> None:
    if not visible(record):
        _not_found(access, action, record, f"no record {record} in your scope")


def _need_person(access: Access, visible: Visibility, person: str, action: str) -> None:
    """The person must have a record now that the caller may see (decisions change what is). One
    the caller saw before (merged away, emptied) is a conflict; any other is not found."""
    session = access.session
    if any(visible(r) for r in _records_of(session, person)):
        return
    if may_see_person(session, person, visible):
        access.log(action, person, "conflict")
        session.commit()
        row = session.get(PersonRow, person)
        now = (
            f"was merged into {row.merged_into}"
            if row and row.merged_into
            else "has no records in your scope now"
        )
        raise ApiError(409, "conflict", f"{person} {now}")
    _not_found(access, action, person, f"no person {person} in your scope")


# ---- the review queue ---------------------------------------------------------------------------
@router.get("/review")
def review_queue(
    status: str = Query("open", pattern=STATUSES),
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=review.MAX_OFFSET),
    access: Access = allow(STEWARD, "empi-review-list"),
) -> dict[str, Any]:
    """Possible matches, most likely first, both records side by side with comparison levels;
    `counts` are items per status within the caller's scope."""
    session = access.session
    limit, offset = max(1, min(limit, 200)), max(0, min(offset, review.MAX_OFFSET))
    masked = access.masked
    within = visible_items(access.repo())
    out = []
    for item in review.items(session, status, limit=limit, offset=offset, within=within):
        a, b = _view(session, item.record_id, masked), _view(session, item.other_id, masked)
        ra, rb = session.get(PersonRecordRow, item.record_id), session.get(PersonRecordRow, item.other_id)
        assert ra is not None and rb is not None
        levels = pair_levels(load_features(ra.features), load_features(rb.features))
        out.append({**review.as_dict(item), "left": a, "right": b, "levels": levels})
    access.log("empi-review-list", "person-index", "ok", f"{len(out)} items")
    session.commit()
    return {"counts": review.counts(session, within), "items": out}


@router.post("/review/{item_id}")
def decide(
    item_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: DecideIn,
    access: Access = allow(STEWARD, "empi-review"),
) -> dict[str, Any]:
    item = access.session.get(ReviewItem, item_id) if 0 < item_id <= MAX_ID else None
    visible = _visibility(access)
    if item is None or not (visible(item.record_id) and visible(item.other_id)):
        _not_found(access, "empi-review", f"review/{item_id}", f"no review item {item_id}")
    return _run(access, decisions.decide_review, item_id, body.decision, body.reason)


# ---- manual decisions --------------------------------------------------------------------------
@router.post("/link")
def link(body: LinkIn, access: Access = allow(STEWARD, "empi-link")) -> dict[str, Any]:
    visible = _visibility(access)
    _need_record(access, visible, body.record, "empi-link")
    _need_person(access, visible, body.person, "empi-link")
    return _run(access, decisions.link, body.record, body.person, body.reason)


@router.post("/unlink")
def unlink(body: UnlinkIn, access: Access = allow(STEWARD, "empi-unlink")) -> dict[str, Any]:
    _need_record(access, _visibility(access), body.record, "empi-unlink")
    return _run(access, decisions.unlink, body.record, body.reason)


@router.post("/merge")
def merge(body: MergeIn, access: Access = allow(STEWARD, "empi-merge")) -> dict[str, Any]:
    visible = _visibility(access)
    for person in (body.source, body.target):
        _need_person(access, visible, person, "empi-merge")
    return _run(access, decisions.merge, body.source, body.target, body.reason)


@router.post("/decisions/{event_id}/revert")
def revert(
    event_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: RevertIn,
    access: Access = allow(STEWARD, "empi-revert"),
) -> dict[str, Any]:
    """Undo a decision exactly; reverting a merge is the unmerge. A decision naming no record
    the caller may see does not exist for them."""
    event = access.session.get(PersonEvent, event_id) if 0 < event_id <= MAX_ID else None
    visible = _visibility(access)
    if event is None or not any(visible(r) for r in sorted(decisions.named(event))):
        _not_found(access, "empi-revert", f"decision/{event_id}", f"no decision {event_id}")
    return _run(access, decisions.revert, event_id, body.reason)


# ---- persons -----------------------------------------------------------------------------------
@router.get("/persons/{person_id}")
def person(
    person_id: Annotated[str, Path(max_length=64)],
    access: Access = allow(STEWARD, "empi-person"),
) -> dict[str, Any]:
    """A person's golden record (values with provenance from the records the caller may see),
    those records and the decisions naming them. A person (merged-away and emptied ones too)
    exists for a caller who may see a record that is or was in it."""
    session = access.session
    row = session.get(PersonRow, person_id)
    visible, masked = _visibility(access), access.masked
    events = decisions.history(session, person_id) if row is not None else []
    records = _records_of(session, person_id)
    ever = set(records) | decisions.past_members(events, person_id)
    if row is None or not any(visible(r) for r in sorted(ever)):
        access.log("empi-person", person_id, "not-found")
        session.commit()
        raise ApiError(404, "not-found", f"no person {person_id} in your scope")
    shown = [r for r in records if visible(r)]
    golden = persons.golden_record(session, person_id) or {}
    out: dict[str, Any] = {
        "person": person_id,
        "status": row.status,
        "merged_into": row.merged_into,
        "golden": golden_view(golden, set(shown), masked),
        "records": [_view(session, r, masked) for r in sorted(shown)],
        "decisions": [
            _event(e, visible) for e in events if any(visible(r) for r in sorted(decisions.named(e)))
        ],
    }
    access.log("empi-person", person_id)
    session.commit()
    return out

"""The review queue: possible matches (match probability in the review band, from batch or real-time
linkage) of records that are in different persons, waiting for a steward's decision.

An item is `open` until decided (`match` / `no-match`, see `decisions.py`) or until the records end
up in one person or apart for good by other means (`stale`). Relinking updates open items in place
(same id), so a steward's queue does not reshuffle under them. Each item is a case of the
workflow machine `review-item` (`review-item.states.yaml`); `status` projects its state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from phip import workflow
from phip.identity import persons
from phip.identity.models import PersonRecordRow, ReviewItem
from phip.store.errors import Gone

MACHINE = workflow.load(files("phip.identity") / "review-item.states.yaml").name
LINKAGE = "system:linkage"


def move(session: Session, item: ReviewItem, transition: str, actor: str, reason: str = "") -> None:
    """Take a transition of the item's case and project its state onto the row (an item from
    before the workflow layer has no case: its status is set directly, after the same check)."""
    try:
        case = workflow.transition(session, MACHINE, str(item.id), transition, actor=actor, reason=reason)
        item.status = case.state
    except (workflow.CaseNotFound, Gone):
        item.status = workflow.machine(MACHINE).step(item.status, transition).target


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def offer(
    session: Session,
    pairs: Iterable[tuple[str, str, float]],
    person_of: dict[str, str],
    replace: bool = False,
) -> int:
    """Queue these possible pairs (records in different persons, not ruled apart). With
    `replace`, open items not offered again become stale (a batch relink). Returns items added."""
    wanted: dict[tuple[str, str], float] = {}
    for a, b, p in pairs:
        if person_of.get(a) and person_of.get(a) != person_of.get(b):
            k = _key(a, b)
            wanted[k] = max(p, wanted.get(k, 0.0))
    rules = persons.no_match_pairs(session, {r for k in wanted for r in k}) if wanted else set()
    for k in rules:
        wanted.pop(k, None)
    existing: dict[tuple[str, str], ReviewItem] = {}
    ids = sorted({k[0] for k in wanted})
    for i in range(0, len(ids), 500):
        for item in session.scalars(select(ReviewItem).where(ReviewItem.record_id.in_(ids[i : i + 500]))):
            existing[(item.record_id, item.other_id)] = item
    if replace:
        for item in session.scalars(select(ReviewItem).where(ReviewItem.status == "open")):
            existing.setdefault((item.record_id, item.other_id), item)
    now = datetime.now(UTC)
    new: list[ReviewItem] = []
    for k, p in wanted.items():
        found = existing.get(k)
        if found is None:
            new.append(
                ReviewItem(record_id=k[0], other_id=k[1], probability=p, status="open", created_at=now)
            )
        elif found.status == "open":
            found.probability = p
    session.add_all(new)
    session.flush()
    workflow.open_cases(session, MACHINE, [str(i.id) for i in new], actor=LINKAGE, now=now)
    if replace:
        for k, item in existing.items():
            if item.status == "open" and k not in wanted:
                move(session, item, "go-stale", LINKAGE, "no longer offered by the linkage")
    session.flush()
    return len(new)


#: the largest offset a listing accepts (beyond it there is nothing to page through)
MAX_OFFSET = 1_000_000


def items(
    session: Session,
    status: str = "open",
    limit: int = 50,
    offset: int = 0,
    within: ColumnElement[bool] | None = None,
) -> list[ReviewItem]:
    """Items with this status, most likely matches first; open items whose records came together
    (or apart for good) meanwhile are marked stale on the way. `within` (a condition on
    `ReviewItem`, see `fhir_person.visible_items`) limits them to a caller's scope in the SQL, so
    paging counts only what the caller may see."""
    out: list[ReviewItem] = []
    offset = max(0, min(offset, MAX_OFFSET))
    where = [ReviewItem.status == status] + ([within] if within is not None else [])
    while len(out) < limit:
        batch = session.scalars(
            select(ReviewItem)
            .where(*where)
            .order_by(ReviewItem.probability.desc(), ReviewItem.id)
            .offset(offset)
            .limit(limit)
        ).all()
        if not batch:
            break
        fresh = [i for i in batch if status != "open" or not _stale(session, i)]
        offset += len(fresh)  # stale ones left the status and no longer count in the offset
        out.extend(fresh)
    session.flush()
    return out[:limit]


def _stale(session: Session, item: ReviewItem) -> bool:
    a = session.get(PersonRecordRow, item.record_id)
    b = session.get(PersonRecordRow, item.other_id)
    apart = bool(persons.no_match_pairs(session, [item.record_id]) & {(item.record_id, item.other_id)})
    if a is None or b is None or a.person_id == b.person_id or apart:
        move(session, item, "go-stale", LINKAGE, "the records are one person or apart already")
        return True
    return False


def counts(session: Session, within: ColumnElement[bool] | None = None) -> dict[str, int]:
    """Items per status (only those `within` a caller's scope, when given)."""
    q = select(ReviewItem.status, func.count())
    if within is not None:
        q = q.where(within)
    return {s: int(n) for s, n in session.execute(q.group_by(ReviewItem.status))}


def as_dict(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "records": [item.record_id, item.other_id],
        "probability": round(item.probability, 6),
        "status": item.status,
        "decided_by": item.decided_by,
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "decision": item.event_id,
    }

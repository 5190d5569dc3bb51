"""A data steward's decisions on the person index: link a record to a person, unlink it, merge two
persons, decide a review-queue item, and revert any of these (unmerge is the revert of a merge).

Each decision is one `PersonEvent` holding the state before and after of every person and record
it touched (and the no-match rules between them), and one entry in the hash-chained audit log. A
revert puts the `before` state back exactly; it is refused when a later decision touched the same
persons (revert that one first). Manual decisions win over the model: records a steward placed are
`manual` and no batch or real-time linkage moves them, and a no-match rule keeps two records apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.orm import Session

from phip import workflow
from phip.identity import persons, review
from phip.identity.models import NoMatchRule, PersonEvent, PersonRecordRow, PersonRow, ReviewItem
from phip.security import audit


class DecisionError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _rules(session: Session, records: list[str]) -> list[list[Any]]:
    out: set[tuple[str, str, int]] = set()
    for i in range(0, len(records), 400):
        chunk = records[i : i + 400]
        out.update(
            (a, b, e)
            for a, b, e in session.execute(
                select(NoMatchRule.record_a, NoMatchRule.record_b, NoMatchRule.event_id).where(
                    or_(NoMatchRule.record_a.in_(chunk), NoMatchRule.record_b.in_(chunk))
                )
            )
        )
    return [list(r) for r in sorted(out)]


def _drop_rules_between(session: Session, left: list[str], right: list[str]) -> None:
    """Remove the no-match rules between any record of `left` and any of `right` (a steward's
    link or merge overrides them): the rules are looked up once, then deleted together."""
    lset, rset = set(left), set(right)
    found = [
        (a, b)
        for a, b in persons.no_match_pairs(session, left)
        if (a in lset and b in rset) or (b in lset and a in rset)
    ]
    for i in range(0, len(found), 400):
        chunk = found[i : i + 400]
        session.execute(
            delete(NoMatchRule).where(tuple_(NoMatchRule.record_a, NoMatchRule.record_b).in_(chunk))
        )


def _state(session: Session, person_ids: set[str]) -> dict[str, Any]:
    state = persons.snapshot(session, person_ids)
    state["rules"] = _rules(session, sorted(state["records"]))
    return state


def _record(session: Session, record_id: str) -> PersonRecordRow:
    row = session.get(PersonRecordRow, record_id)
    if row is None or row.person_id is None:
        raise DecisionError(404, "not-found", f"{record_id} is not in the person index")
    return row


def _person(session: Session, person_id: str) -> PersonRow:
    row = session.get(PersonRow, person_id)
    if row is None:
        raise DecisionError(404, "not-found", f"no person {person_id}")
    if row.status == "merged":
        raise DecisionError(409, "conflict", f"{person_id} was merged into {row.merged_into}")
    return row


def _decide(
    session: Session,
    actor: str,
    role: str,
    action: str,
    involved: set[str],
    change: Callable[[int], set[str]],
    reason: str,
    extra: dict[str, Any] | None = None,
) -> PersonEvent:
    """Run `change(event_id)` (it returns the persons it created) between two snapshots and
    record the event."""
    involved = {p for p in involved if p}
    before = _state(session, involved)
    event = PersonEvent(action=action, actor=actor, at=datetime.now(UTC), persons="", before="", after="")
    event.reason = reason[:400]
    session.add(event)
    session.flush()
    created = change(event.id)
    session.flush()
    touched = involved | created
    persons.refresh(session, touched)
    after = _state(session, touched)
    after.update(extra or {})
    event.persons = " ".join(sorted(touched))
    event.before = orjson.dumps(before).decode()
    event.after = orjson.dumps(after).decode()
    session.flush()
    audit.record(session, actor, role, f"empi-{action}", " ".join(sorted(touched))[:200], "ok", reason)
    return event


def link(
    session: Session, actor: str, role: str, record_id: str, person_id: str, reason: str = ""
) -> PersonEvent:
    """Put a record into a person by hand (it stays there whatever the model says)."""
    row = _record(session, record_id)
    _person(session, person_id)
    old = row.person_id or ""
    if old == person_id and row.link_status == "manual":
        raise DecisionError(409, "conflict", f"{record_id} is already linked to {person_id} by hand")

    def change(_event: int) -> set[str]:
        _drop_rules_between(session, [record_id], persons.members(session, [person_id]).get(person_id, []))
        row.person_id, row.link_status, row.link_prob = person_id, "manual", None
        return set()

    return _decide(session, actor, role, "link", {old, person_id}, change, reason)


def unlink(
    session: Session,
    actor: str,
    role: str,
    record_id: str,
    reason: str = "",
    extra: dict[str, Any] | None = None,
) -> PersonEvent:
    """Take a record out of its person into a person of its own, and keep it apart from the
    records it leaves."""
    row = _record(session, record_id)
    old = row.person_id or ""
    others = [r for r in persons.members(session, [old]).get(old, []) if r != record_id]
    if not others:
        raise DecisionError(409, "conflict", f"{record_id} is the only record of {old}")

    def change(event_id: int) -> set[str]:
        new = persons.new_person_id(f"{record_id}@{event_id}")
        row.person_id, row.link_status, row.link_prob = new, "manual", None
        for other in others:
            a, b = _pair(record_id, other)
            session.merge(NoMatchRule(record_a=a, record_b=b, event_id=event_id))
        return {new}

    return _decide(session, actor, role, "unlink", {old}, change, reason, extra)


def merge(
    session: Session,
    actor: str,
    role: str,
    source: str,
    target: str,
    reason: str = "",
    action: str = "merge",
    extra: dict[str, Any] | None = None,
) -> PersonEvent:
    """Merge person `source` into `target`: all records of both are pinned to `target` by hand;
    `source` remains as a pointer (`merged`) so its id (a health card's) still resolves."""
    if source == target:
        raise DecisionError(400, "invalid", "a person cannot be merged into itself")
    src = _person(session, source)
    _person(session, target)

    def change(_event: int) -> set[str]:
        groups = persons.members(session, [source, target])
        a_ids, b_ids = groups.get(source, []), groups.get(target, [])
        _drop_rules_between(session, a_ids, b_ids)
        for rid in a_ids + b_ids:
            r = session.get(PersonRecordRow, rid)
            if r is not None:
                r.person_id, r.link_status = target, "manual"
        src.status, src.merged_into = "merged", target
        return set()

    return _decide(session, actor, role, action, {source, target}, change, reason, extra)


def keep_apart(
    session: Session,
    actor: str,
    role: str,
    record_a: str,
    record_b: str,
    reason: str = "",
    extra: dict[str, Any] | None = None,
) -> PersonEvent:
    """Two records are different people: a no-match rule (and if they share a person now, the
    second record leaves it)."""
    ra, rb = _record(session, record_a), _record(session, record_b)
    if ra.person_id == rb.person_id:
        return unlink(session, actor, role, record_b, reason, extra)

    def change(event_id: int) -> set[str]:
        a, b = _pair(record_a, record_b)
        session.merge(NoMatchRule(record_a=a, record_b=b, event_id=event_id))
        return set()

    involved = {ra.person_id or "", rb.person_id or ""}
    return _decide(session, actor, role, "no-match", involved, change, reason, extra)


def decide_review(
    session: Session, actor: str, role: str, item_id: int, decision: str, reason: str = ""
) -> PersonEvent:
    """`match`: the two records' persons are merged (into the first record's); `no-match`: they
    are kept apart for good."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise DecisionError(404, "not-found", f"no review item {item_id}")
    m = workflow.machine(review.MACHINE)
    transition = {"match": "decide-match", "no-match": "decide-no-match"}.get(decision)
    if transition is None:
        raise DecisionError(400, "invalid", "decision must be match or no-match")
    if item.status not in m.states or transition not in m.allowed(item.status):
        m.step(item.status, transition)  # IllegalTransition: 409 naming what is allowed
    a, b = _record(session, item.record_id), _record(session, item.other_id)
    extra = {"review": item_id}
    if decision == "match":
        if a.person_id == b.person_id:
            raise DecisionError(409, "conflict", "the two records are one person already")
        event = merge(
            session, actor, role, b.person_id or "", a.person_id or "", reason, "review-match", extra
        )
    elif decision == "no-match":
        event = keep_apart(session, actor, role, item.record_id, item.other_id, reason, extra)
    else:
        raise DecisionError(400, "invalid", "decision must be match or no-match")
    review.move(session, item, transition, actor, reason)
    item.decided_by, item.decided_at, item.event_id = actor, datetime.now(UTC), event.id
    return event


# ---- reading the decisions back (who may see them is the caller's business: see `named`) -------
def history(session: Session, person_id: str) -> list[PersonEvent]:
    """The decisions that touched a person (reverted ones and reverts included), oldest first."""
    found = session.scalars(
        select(PersonEvent)
        .where(PersonEvent.persons.contains(person_id, autoescape=True))
        .order_by(PersonEvent.id)
    ).all()
    return [e for e in found if person_id in e.persons.split()]


def named(event: PersonEvent) -> dict[str, set[str]]:
    """The records a decision names (in its state before or after), each with the persons it
    was in there."""
    out: dict[str, set[str]] = defaultdict(set)
    for state in (event.before, event.after):
        if not state:
            continue
        for rid, (pid, *_rest) in orjson.loads(state)["records"].items():
            out[rid].add(pid or "")
    return dict(out)


def past_members(events: list[PersonEvent], person_id: str) -> set[str]:
    """The records that were in the person before or after any of these decisions."""
    return {r for e in events for r, pids in named(e).items() if person_id in pids}


def revert(session: Session, actor: str, role: str, event_id: int, reason: str = "") -> PersonEvent:
    """Undo a decision exactly (an unmerge when it was a merge)."""
    event = session.get(PersonEvent, event_id)
    if event is None:
        raise DecisionError(404, "not-found", f"no decision {event_id}")
    if event.reverted_by is not None or event.reverts is not None:
        raise DecisionError(
            409, "conflict", f"decision {event_id} cannot be reverted (already reverted or a revert)"
        )
    touched = set(event.persons.split())
    later = session.scalars(
        select(PersonEvent).where(
            PersonEvent.id > event_id, PersonEvent.reverted_by.is_(None), PersonEvent.reverts.is_(None)
        )
    ).all()
    for e in later:
        if touched & set(e.persons.split()):
            raise DecisionError(
                409, "conflict", f"decision {e.id} changed the same persons later: revert it first"
            )
    before, after = orjson.loads(event.before), orjson.loads(event.after)

    def change(_event: int) -> set[str]:
        persons.restore(session, before, after)
        ids = sorted(set(before["records"]) | set(after["records"]))
        for i in range(0, len(ids), 400):
            chunk = ids[i : i + 400]
            session.execute(
                delete(NoMatchRule).where(
                    or_(NoMatchRule.record_a.in_(chunk), NoMatchRule.record_b.in_(chunk))
                )
            )
        session.flush()
        for a, b, rule_event in before["rules"]:
            session.add(NoMatchRule(record_a=a, record_b=b, event_id=rule_event))
        if "review" in after:
            item = session.get(ReviewItem, after["review"])
            if item is not None:
                review.move(session, item, "reopen", actor, reason or f"revert {event_id}")
                item.decided_by, item.decided_at, item.event_id = None, None, None
        return set()

    involved = touched | set(before["persons"])
    undo = _decide(session, actor, role, "revert", involved, change, reason or f"revert {event_id}")
    undo.reverts = event_id
    event.reverted_by = undo.id
    return undo

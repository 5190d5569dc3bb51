"""Deadline timers: rows in `workflow_timer`, armed when a case enters a state with deadlines and
cancelled when it leaves, so they survive a restart. `fire_due()` (the server runs it at
start-up and at every background tick; `phip workflow tick` by hand) fires each timer that is
due: its transition (taken as `system:timer`) or its escalation (an outbox event
`workflow.escalation` for whoever follows it, e.g. the county's alert list). A timer fires at
most once; one whose case already left the state is set aside as stale."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from phip.store import outbox
from phip.store.codec import instant, now_utc
from phip.workflow import cases
from phip.workflow.models import WorkflowTimer

log = logging.getLogger(__name__)
TIMER_ACTOR = "system:timer"


def fire_due(session: Session, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Fire the timers due by `now` (oldest first, at most `limit`), each committed on its own;
    returns counts of fired, stale and failed timers."""
    now = now or now_utc()
    counts = {"fired": 0, "stale": 0, "failed": 0}
    due = session.scalars(
        select(WorkflowTimer.id)
        .where(WorkflowTimer.done.is_(False), WorkflowTimer.due_at <= now)
        .order_by(WorkflowTimer.due_at, WorkflowTimer.id)
        .limit(limit)
    ).all()
    for timer_id in due:
        try:
            counts[_fire(session, timer_id, now)] += 1
            session.commit()
        except Exception as exc:  # left pending: tried again at the next tick
            session.rollback()
            counts["failed"] += 1
            log.warning("workflow timer %s failed: %s", timer_id, type(exc).__name__)
    return counts


def _fire(session: Session, timer_id: int, now: datetime) -> str:
    taken = session.execute(  # one firer per timer, on every database: whoever flips `done` fires
        update(WorkflowTimer)
        .where(WorkflowTimer.id == timer_id, WorkflowTimer.done.is_(False))
        .values(done=True)
    )
    timer = session.get(WorkflowTimer, timer_id)
    if timer is None or not taken.rowcount:  # type: ignore[attr-defined]
        return "stale"
    case = cases.get(session, timer.machine, timer.case_key)
    if case is None or case.state != timer.state:
        timer.done, timer.outcome = True, "stale"
        return "stale"
    reason = f"deadline passed: in {timer.state} since before {instant(timer.due_at)}"
    if timer.transition:
        cases.transition(
            session,
            timer.machine,
            timer.case_key,
            timer.transition,
            actor=TIMER_ACTOR,
            reason=reason,
            now=now,
        )
    else:
        payload: dict[str, Any] = {
            "machine": timer.machine,
            "case": timer.case_key,
            "state": timer.state,
            "escalation": timer.escalate,
            "due": instant(timer.due_at),
        }
        outbox.emit(session, cases.ESCALATION_TOPIC, f"{timer.machine}/{timer.case_key}", payload)
    timer.done, timer.outcome = True, "fired"
    return "fired"


def pending(session: Session, machine_name: str, key: str) -> list[dict[str, Any]]:
    """A case's timers still armed."""
    rows = session.scalars(
        select(WorkflowTimer).where(
            WorkflowTimer.machine == machine_name,
            WorkflowTimer.case_key == key,
            WorkflowTimer.done.is_(False),
        )
    )
    return [
        {"state": t.state, "due": instant(t.due_at), "transition": t.transition, "escalate": t.escalate}
        for t in rows
    ]

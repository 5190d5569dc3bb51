"""The workflow layer on SQLite and PostgreSQL: machines as data checked at load, cases as FHIR
Tasks moved only by allowed transitions, events with actor and reason, idempotent commands,
deadline timers that fire after a restart, and the 409 an illegal transition gets over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip import workflow
from phip.exchange.structure import validate_resource
from phip.store import init_db, make_engine
from phip.store.codec import now_utc
from phip.store.models import OutboxEvent
from phip.store.repository import Repository
from phip.workflow.machine import MachineError, duration, from_dict
from phip.workflow.models import WorkflowEvent, WorkflowTimer

SAMPLE = workflow.load(Path(__file__).with_name("sample.states.yaml")).name


@pytest.fixture
def engine_url(db_url: str) -> Iterator[str]:
    engine = make_engine(db_url)
    init_db(engine)
    engine.dispose()
    yield db_url


def _session(url: str) -> Session:
    return Session(make_engine(url))


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "m",
        "zh": "机",
        "en": "M",
        "initial": "a",
        "states": {
            "a": {"zh": "甲", "en": "A", "task": "requested"},
            "b": {"zh": "乙", "en": "B", "task": "completed", "final": True},
        },
        "transitions": {"go": {"from": ["a"], "to": "b", "action": None}},
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"initial": "z"}, "initial state"),
        ({"transitions": {"go": {"from": ["a"], "to": "z", "action": None}}}, "unknown states"),
        ({"transitions": {"back": {"from": ["b"], "to": "a", "action": None}}}, "final states"),
        ({"states": {"a": {"zh": "甲", "en": "A", "task": "waiting"}}}, "not a FHIR code"),
        ({"deadlines": [{"state": "b", "after": "PT1H", "transition": "go"}]}, "cannot leave"),
        ({"deadlines": [{"state": "a", "after": "PT1H"}]}, "one of transition or escalate"),
        ({"deadlines": [{"state": "a", "after": "48 hours", "escalate": "x"}]}, "ISO 8601"),
        ({"states": None, "transitions": None}, "initial state"),
        ({"name": None, "zh": None} | {"initial": None}, "initial state"),
    ],
)
def test_a_wrong_machine_fails_at_load(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(MachineError, match=why):
        from_dict(_doc(**changes))


def test_durations() -> None:
    assert duration("PT48H") == timedelta(hours=48) and duration("P7D") == timedelta(days=7)
    assert duration("P1DT2H30M5S") == timedelta(days=1, hours=2, minutes=30, seconds=5)
    for bad in ("P", "PT", "48H", "P1W", ""):
        with pytest.raises(MachineError):
            duration(bad)


def test_a_case_is_a_valid_task_moved_by_allowed_transitions(engine_url: str) -> None:
    with _session(engine_url) as s:
        case = workflow.open_case(
            s,
            SAMPLE,
            "r1",
            actor="staff:doc",
            facility="F1",
            subject="Patient/p1",
            focus="ServiceRequest/sr1",
        )
        assert case.state == "requested" and case.allowed == ("accept", "reject", "escalate")
        s.commit()
        task = Repository(s).read("Task", case.task_id)
        assert validate_resource(task) == []  # a FHIR R4 Task any client can read
        assert task["status"] == "requested" and task["for"] == {"reference": "Patient/p1"}
        with pytest.raises(workflow.IllegalTransition) as bad:
            workflow.transition(s, SAMPLE, "r1", "complete", actor="staff:doc")
        assert bad.value.allowed == ["accept", "reject", "escalate"]
        asked: list[str] = []
        moved = workflow.transition(
            s, SAMPLE, "r1", "accept", actor="staff:hosp", reason="beds free", require=asked.append
        )
        assert asked == ["referral.accept"] and moved.state == "accepted" and moved.version == 2
        workflow.transition(s, SAMPLE, "r1", "complete", actor="staff:hosp")
        s.commit()
        task = Repository(s).read("Task", case.task_id)
        assert task["status"] == "completed" and task["businessStatus"]["coding"][0]["code"] == "completed"
        with pytest.raises(workflow.IllegalTransition, match="the case is closed"):
            workflow.transition(s, SAMPLE, "r1", "accept", actor="staff:hosp")
        steps = [(h["transition"], h["from"], h["to"], h["actor"]) for h in workflow.history(s, SAMPLE, "r1")]
        assert steps == [
            ("open", "", "requested", "staff:doc"),
            ("accept", "requested", "accepted", "staff:hosp"),
            ("complete", "accepted", "completed", "staff:hosp"),
        ]
        assert workflow.history(s, SAMPLE, "r1")[1]["reason"] == "beds free"
        topics = s.scalars(select(OutboxEvent.topic).where(OutboxEvent.key == f"{SAMPLE}/r1")).all()
        assert topics == ["workflow.transition"] * 3  # each move announced in its transaction
        with pytest.raises(workflow.CaseNotFound):
            workflow.transition(s, SAMPLE, "nobody", "accept", actor="staff:hosp")


def test_a_denied_transition_changes_nothing(engine_url: str) -> None:
    class Denied(Exception):
        pass

    def deny(action: str) -> None:
        raise Denied(action)

    with _session(engine_url) as s:
        workflow.open_case(s, SAMPLE, "r2", actor="staff:doc")
        s.commit()
        with pytest.raises(Denied):
            workflow.transition(s, SAMPLE, "r2", "reject", actor="staff:nurse", require=deny)
        s.rollback()
        case = workflow.get(s, SAMPLE, "r2")
        assert case is not None and case.state == "requested"


def test_a_repeated_command_acts_once(engine_url: str) -> None:
    with _session(engine_url) as s:
        first = workflow.open_case(s, SAMPLE, "r3", actor="staff:doc", command_key="k-open")
        again = workflow.open_case(s, SAMPLE, "r3", actor="staff:doc", command_key="k-open")
        assert again == first
        one = workflow.transition(s, SAMPLE, "r3", "accept", actor="staff:hosp", command_key="k-accept")
        s.commit()
        two = workflow.transition(s, SAMPLE, "r3", "accept", actor="staff:hosp", command_key="k-accept")
        assert two == one  # the retry gets the first answer, not an illegal transition
        with pytest.raises(workflow.IdempotencyConflict):
            workflow.transition(s, SAMPLE, "r3", "complete", actor="staff:hosp", command_key="k-accept")
        n = s.scalar(select(func.count()).where(WorkflowEvent.case_key == "r3"))
        assert n == 2  # open and accept, once each


def test_a_deadline_fires_after_a_restart(engine_url: str) -> None:
    start = now_utc()
    with _session(engine_url) as s:
        workflow.open_case(s, SAMPLE, "late", actor="staff:doc", now=start)
        workflow.open_case(s, SAMPLE, "answered", actor="staff:doc", now=start)
        workflow.transition(
            s, SAMPLE, "answered", "accept", actor="staff:hosp", now=start + timedelta(hours=1)
        )
        s.commit()
        s.get_bind().dispose()  # the server stops
    with _session(engine_url) as s:  # and starts again
        assert workflow.fire_due(s, now=start + timedelta(hours=47)) == {"fired": 0, "stale": 0, "failed": 0}
        counts = workflow.fire_due(s, now=start + timedelta(hours=49))
        assert counts["fired"] == 1
        late = workflow.get(s, SAMPLE, "late")
        assert late is not None and late.state == "escalated"
        assert workflow.history(s, SAMPLE, "late")[-1]["actor"] == "system:timer"
        answered = workflow.get(s, SAMPLE, "answered")
        assert answered is not None and answered.state == "accepted"  # its deadline was cancelled
        # the accepted case's own deadline escalates (an outbox event), it does not move the case
        assert workflow.fire_due(s, now=start + timedelta(days=8))["fired"] == 1
        escalations = s.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == "workflow.escalation"))
        assert any("referral-not-completed" in p for p in escalations)
        assert workflow.fire_due(s, now=start + timedelta(days=30)) == {"fired": 0, "stale": 0, "failed": 0}
        outcomes = set(s.execute(select(WorkflowTimer.case_key, WorkflowTimer.outcome)).all())
        assert outcomes == {("late", "fired"), ("answered", "cancelled"), ("answered", "fired")}

"""The transactional outbox on SQLite and PostgreSQL: events commit (or roll back) with the write
that announces them, each subscriber's position moves with its work, failures are retried and
then parked, a young gap in the numbers waits for the transaction that holds it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.store import make_engine, outbox
from phip.store.models import OutboxEvent, OutboxParked
from phip.store.repository import Incoming, Repository
from tests.store.test_repository import patient

TOPIC = outbox.declare_topic("test.outbox")


class Recorder:
    """A test subscriber: records what it is given, fails on the seqs it is told to."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.fail_on: set[int] = set()

    def __call__(self, session: Session, events: list[outbox.Event], context: Mapping[str, Any]) -> None:
        for e in events:
            if e.seq in self.fail_on:
                raise RuntimeError("cannot handle this one")
        self.seen.extend(e.seq for e in events)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    name = f"test.recorder.{id(rec)}"
    outbox.subscribe(name, [TOPIC], rec, batch=3)
    rec.name = name  # type: ignore[attr-defined]
    yield rec
    outbox._SUBSCRIBERS.pop(name, None)


def _events(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
    rows = session.execute(
        select(OutboxEvent.topic, OutboxEvent.key, OutboxEvent.payload).order_by(OutboxEvent.seq)
    )
    import orjson

    return [(t, k, orjson.loads(p)) for t, k, p in rows]


def test_patient_writes_are_events_in_their_own_transaction(session: Session) -> None:
    repo = Repository(session)
    repo.create(patient("p1"), facility="F1")
    repo.create({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}})
    session.rollback()  # neither the Patient nor its event
    assert _events(session) == []
    repo.create(patient("p1"), facility="F1")
    repo.update("Patient", "p1", patient("p1", name="张丽"), facility="F1")
    repo.update("Patient", "p1", patient("p1", name="张丽"), facility="F1")  # unchanged: no event
    repo.delete("Patient", "p1")
    session.commit()
    assert _events(session) == [
        ("resource.Patient", "Patient/p1", {"version": 1, "outcome": "created", "facility": "F1"}),
        ("resource.Patient", "Patient/p1", {"version": 2, "outcome": "updated", "facility": "F1"}),
        ("resource.Patient", "Patient/p1", {"version": 3, "outcome": "deleted", "facility": "F1"}),
    ]


def test_bulk_writes_announce_created_and_updated_patients_only(session: Session) -> None:
    repo = Repository(session)
    repo.bulk_upsert([Incoming(patient("a"), "F1"), Incoming(patient("b"), "F1")])
    session.commit()
    repo.bulk_upsert([Incoming(patient("a"), "F1"), Incoming(patient("b", name="王芳"), "F1")])
    session.commit()
    assert [(k, p["outcome"]) for _, k, p in _events(session)] == [
        ("Patient/a", "created"),
        ("Patient/b", "created"),
        ("Patient/b", "updated"),
    ]


def test_undeclared_topics_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="undeclared"):
        outbox.emit(session, "nobody.declared.this", "x")
    with pytest.raises(ValueError, match="undeclared"):
        outbox.subscribe("test.bad", ["nobody.declared.this"], Recorder())


def test_delivery_in_order_once_with_the_position(session: Session, recorder: Recorder) -> None:
    name = recorder.name  # type: ignore[attr-defined]
    for i in range(7):
        outbox.emit(session, TOPIC, f"k{i}")
    session.commit()
    first = outbox.last_seq(session) - 6
    result = outbox.deliver(session, names=[name])
    assert result.delivered[name] == 7 and recorder.seen == list(range(first, first + 7))
    assert outbox.deliver(session, names=[name]).delivered[name] == 0  # nothing twice
    assert outbox.status(session)["subscribers"][name]["pending"] == 0
    outbox.emit(session, TOPIC, "k7")
    session.commit()
    assert outbox.deliver(session, names=[name], max_batches=1).delivered[name] == 1
    assert recorder.seen[-1] == first + 7


def test_failures_are_retried_then_parked_and_the_rest_go_on(session: Session, recorder: Recorder) -> None:
    name = recorder.name  # type: ignore[attr-defined]
    for i in range(5):
        outbox.emit(session, TOPIC, f"k{i}")
    session.commit()
    seqs = list(range(outbox.last_seq(session) - 4, outbox.last_seq(session) + 1))
    recorder.fail_on = {seqs[1]}
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        result = outbox.deliver(session, names=[name])
        assert result.failed[name].startswith("RuntimeError at event")
        assert "cannot handle" not in result.failed[name]  # the message may hold personal data
        state = outbox.status(session)["subscribers"][name]
        assert state["attempts"] == attempt and state["pending"] == 5 and recorder.seen == []
    result = outbox.deliver(session, names=[name])  # one at a time: the bad one is set aside
    assert result.parked == {name: 1} and recorder.seen == [seqs[0], *seqs[2:]]
    assert session.scalars(select(OutboxParked.seq)).all() == [seqs[1]]
    recorder.fail_on = set()
    assert outbox.retry_parked(session) == {name: 1}
    assert recorder.seen[-1] == seqs[1]
    assert session.scalar(select(func.count()).select_from(OutboxParked)) == 0


def test_an_event_of_a_transaction_still_running_is_never_passed_over(
    session: Session, recorder: Recorder, db_url: str
) -> None:
    """On PostgreSQL a number can be taken by a transaction that commits later than one with a
    higher number: delivery goes in (transaction, seq) order below the oldest running
    transaction, so the early number is delivered when its transaction commits, however long it
    ran, and a rolled-back one leaves no hole to wait on."""
    if session.get_bind().dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: no transaction runs beside another")
    name = recorder.name  # type: ignore[attr-defined]
    slow = Session(make_engine(db_url))
    outbox.emit(slow, TOPIC, "slow")  # takes its number first, commits last
    slow.flush()
    outbox.emit(session, TOPIC, "quick")
    session.commit()

    def keys() -> list[str]:
        return list(session.scalars(select(OutboxEvent.key).where(OutboxEvent.seq.in_(recorder.seen))))

    outbox.deliver(session, names=[name])
    assert recorder.seen == []  # the quick one waits behind the transaction still running
    slow.commit()
    slow.close()
    outbox.deliver(session, names=[name])
    assert sorted(keys()) == ["quick", "slow"] and len(recorder.seen) == 2
    doomed = Session(make_engine(db_url))
    outbox.emit(doomed, TOPIC, "doomed")
    doomed.flush()
    outbox.emit(session, TOPIC, "after")
    session.commit()
    doomed.rollback()
    doomed.close()
    outbox.deliver(session, names=[name])
    assert sorted(keys()) == ["after", "quick", "slow"]  # no hole waits, nothing lost


def test_the_person_index_subscribes_through_the_entry_point() -> None:
    subs = outbox.subscribers()
    assert subs["identity.link"].topics == {"resource.Patient"}

"""A steward's decisions: link, unlink, merge, review decisions, each audited and each reverted
exactly (unmerge restores the previous state), and the model never overrides them."""

from collections.abc import Iterator
from datetime import date
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity import decisions, persons, review
from phip.identity.decisions import DecisionError
from phip.identity.models import NoMatchRule, PersonEvent, PersonRecordRow, PersonRow, ReviewItem
from phip.identity.person import PersonRecord, derive
from phip.identity.realtime import PersonIndex
from phip.security import audit
from phip.security.models import AuditEntry
from phip.standards import idcard
from phip.store import init_db, make_engine
from phip.store.protect import decrypt_bytes
from phip.workflow import IllegalTransition

A = idcard.make("620102", date(1980, 3, 1), 5, True)
B = idcard.make("620502", date(1975, 7, 9), 8, False)
ACTOR, ROLE = "staff:steward", "province_admin"


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    init_db(engine)
    with Session(engine) as s:
        records = [
            PersonRecord("Patient/a1", "王刚", "male", "1980-03-01", A, source="620102-A100-01"),
            PersonRecord(
                "Patient/a2", "王刚", "male", "1980-03-01", A, phone="13900000001", source="620102001-C100-01"
            ),
            PersonRecord("Patient/b1", "李梅", "female", "1975-07-09", B),
            PersonRecord("Patient/b2", "李玫", "female", "1975-07-09", "", phone="13900000002"),
            PersonRecord("Patient/c1", "赵一", "male", "1990-01-01", ""),
        ]
        clusters = {
            "Patient/a1": "a",
            "Patient/a2": "a",
            "Patient/b1": "b",
            "Patient/b2": "b",
            "Patient/c1": "c",
        }
        assigned = persons.assign(clusters, {}, [])
        PersonIndex(s).add([derive(r) for r in records], assigned)
        persons.refresh(s, set(assigned.values()))
        review.offer(s, [("Patient/a1", "Patient/c1", 0.7), ("Patient/b1", "Patient/c1", 0.6)], assigned)
        s.commit()
        yield s
    engine.dispose()


def pid(s: Session, record: str) -> str:
    row = s.get(PersonRecordRow, record)
    assert row is not None and row.person_id is not None
    return row.person_id


def dump(s: Session) -> dict[str, Any]:
    """Everything a decision may change (golden records decrypted, timestamps left out)."""
    s.expire_all()
    return {
        "records": sorted(
            s.execute(
                select(
                    PersonRecordRow.record_id,
                    PersonRecordRow.person_id,
                    PersonRecordRow.link_status,
                    PersonRecordRow.link_prob,
                )
            ).all()
        ),
        "persons": sorted(
            (
                p.person_id,
                p.status,
                p.merged_into,
                p.records,
                orjson.loads(decrypt_bytes(p.golden)) if p.golden else None,
            )
            for p in s.scalars(select(PersonRow))
        ),
        "rules": sorted(
            s.execute(select(NoMatchRule.record_a, NoMatchRule.record_b, NoMatchRule.event_id)).all()
        ),
        "review": sorted(s.execute(select(ReviewItem.id, ReviewItem.status, ReviewItem.decided_by)).all()),
    }


def test_merge_and_unmerge_restores_exactly(session: Session) -> None:
    s = session
    start = dump(s)
    pa, pb = pid(s, "Patient/a1"), pid(s, "Patient/b1")
    event = decisions.merge(s, ACTOR, ROLE, pb, pa, "same resident, confirmed by phone")
    s.commit()
    assert {pid(s, r) for r in ("Patient/a1", "Patient/a2", "Patient/b1", "Patient/b2")} == {pa}
    assert {
        r.link_status for r in s.scalars(select(PersonRecordRow).where(PersonRecordRow.person_id == pa))
    } == {"manual"}
    assert persons.resolve(s, pb) == pa  # a card bound to the merged person still finds its resident
    merged = s.get(PersonRow, pb)
    assert merged is not None and merged.status == "merged" and merged.records == 0
    g = persons.golden_record(s, pa)
    assert g is not None and len(g["records"]) == 4
    assert g["attributes"]["name"] == {"value": "王刚", "record": "Patient/a1", "rule": "most-trusted-source"}
    assert dump(s) != start
    undo = decisions.revert(s, ACTOR, ROLE, event.id, "merged by mistake")
    s.commit()
    assert dump(s) == start
    assert persons.resolve(s, pb) == pb
    assert undo.reverts == event.id and s.get(PersonEvent, event.id).reverted_by == undo.id  # type: ignore[union-attr]
    with pytest.raises(DecisionError) as exc:
        decisions.revert(s, ACTOR, ROLE, event.id)
    assert exc.value.status == 409
    # both decisions are in the hash-chained audit log
    actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    assert actions[-2:] == ["empi-merge", "empi-revert"]
    assert audit.verify(s).ok


def test_unlink_keeps_apart_and_revert(session: Session) -> None:
    s = session
    start = dump(s)
    pb = pid(s, "Patient/b1")
    event = decisions.unlink(s, ACTOR, ROLE, "Patient/b2", "different mother's name on file")
    s.commit()
    new = pid(s, "Patient/b2")
    assert new != pb and pid(s, "Patient/b1") == pb
    assert s.get(NoMatchRule, ("Patient/b1", "Patient/b2")) is not None
    # the model would put them together again: the decision wins
    prior = persons.priors(s)
    again = persons.assign({r: "one" for r in ("Patient/b1", "Patient/b2")}, prior, persons.no_match_pairs(s))
    assert again["Patient/b2"] == new and again["Patient/b1"] != new
    with pytest.raises(DecisionError):
        decisions.unlink(s, ACTOR, ROLE, "Patient/c1")  # alone already
    decisions.revert(s, ACTOR, ROLE, event.id)
    s.commit()
    assert dump(s) == start
    assert s.get(PersonRow, new) is None


def test_manual_link_and_the_order_of_reverts(session: Session) -> None:
    s = session
    start = dump(s)
    pa, pc = pid(s, "Patient/a1"), pid(s, "Patient/c1")
    first = decisions.link(s, ACTOR, ROLE, "Patient/c1", pa)
    s.commit()
    assert pid(s, "Patient/c1") == pa and s.get(PersonRow, pc).status == "empty"  # type: ignore[union-attr]
    second = decisions.unlink(s, ACTOR, ROLE, "Patient/a2")
    s.commit()
    with pytest.raises(DecisionError) as exc:
        decisions.revert(s, ACTOR, ROLE, first.id)  # the later decision touched the same person
    assert exc.value.status == 409
    decisions.revert(s, ACTOR, ROLE, second.id)
    decisions.revert(s, ACTOR, ROLE, first.id)
    s.commit()
    assert dump(s) == start
    with pytest.raises(DecisionError) as exc:
        decisions.link(s, ACTOR, ROLE, "Patient/nope", pa)
    assert exc.value.status == 404


def test_review_queue_decisions(session: Session) -> None:
    s = session
    items = review.items(s)
    assert [(i.record_id, i.other_id) for i in items] == [
        ("Patient/a1", "Patient/c1"),
        ("Patient/b1", "Patient/c1"),
    ]
    start = dump(s)
    yes = decisions.decide_review(s, ACTOR, ROLE, items[0].id, "match")
    s.commit()
    assert pid(s, "Patient/c1") == pid(s, "Patient/a1")
    # the other item's records are now person a vs person b: still open; decide it apart
    no = decisions.decide_review(s, ACTOR, ROLE, items[1].id, "no-match")
    s.commit()
    assert s.get(NoMatchRule, ("Patient/b1", "Patient/c1")) is not None
    assert review.counts(s) == {"match": 1, "no-match": 1}
    with pytest.raises(IllegalTransition, match="allowed: reopen"):
        decisions.decide_review(s, ACTOR, ROLE, items[0].id, "match")  # decided already
    # a queue offer for a pair ruled apart is not queued again
    assert review.offer(s, [("Patient/b1", "Patient/c1", 0.8)], {"Patient/b1": "x", "Patient/c1": "y"}) == 0
    decisions.revert(s, ACTOR, ROLE, no.id)
    decisions.revert(s, ACTOR, ROLE, yes.id)
    s.commit()
    assert dump(s) == start
    assert review.counts(s) == {"open": 2}
    # each item is a case of the review-item lifecycle: its Task and history say what happened
    from phip import workflow

    case = workflow.get(s, review.MACHINE, str(items[0].id))
    assert case is not None and case.state == "open" and "decide-match" in case.allowed
    steps = [
        (h["transition"], h["to"], h["actor"]) for h in workflow.history(s, review.MACHINE, str(items[0].id))
    ]
    assert steps == [
        ("open", "open", "system:linkage"),
        ("decide-match", "match", ACTOR),
        ("reopen", "open", ACTOR),
    ]


def test_items_that_came_together_go_stale(session: Session) -> None:
    s = session
    decisions.link(s, ACTOR, ROLE, "Patient/c1", pid(s, "Patient/a1"))
    s.commit()
    assert [(i.record_id, i.other_id) for i in review.items(s)] == [("Patient/b1", "Patient/c1")]
    assert review.counts(s) == {"open": 1, "stale": 1}

"""Real-time matching from the operational database agrees with batch linkage."""

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity.features import patients_in
from phip.identity.linkage import link
from phip.identity.models import PersonKey, PersonRecordRow
from phip.identity.person import derive
from phip.identity.realtime import PersonIndex, blocking_keys, grade
from phip.identity.scorer import Scorer
from phip.store import init_db, make_engine


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    init_db(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.fixture(scope="module")
def linked(small_province: Path):  # type: ignore[no-untyped-def]
    records = list(patients_in(small_province / "submissions"))
    return records, link(records)


def test_realtime_finds_what_batch_linked(session: Session, linked) -> None:  # type: ignore[no-untyped-def]
    records, result = linked
    people = [derive(r) for r in records]
    index = PersonIndex(session, Scorer.from_model(result.model, result.term_frequencies))
    index.add(people, result.clusters)
    session.commit()
    by_cluster: dict[str, set[str]] = {}
    for rid, c in result.clusters.items():
        by_cluster.setdefault(c, set()).add(rid)
    rng = random.Random(11)
    sample = rng.sample(people, 300)
    # a record joins the person batch linkage put it in: it matches one of that person's records
    # with certainty, and no other person's. (Not necessarily every record of the person: batch
    # clusters are transitive, so a record may be linked to a third only through a second one.)
    missed = extra = direct = 0
    for p in sample:
        found = index.match(p)
        own = result.clusters[p.record_id]
        mates = by_cluster[own] - {p.record_id}
        certain = {m.record_id for m in found if m.grade == "certain"}
        persons = {m.person_id for m in found if m.grade == "certain"}
        missed += bool(mates) and own not in persons
        extra += len(persons - {own})
        direct += len(mates & certain)
        assert all(m.person_id is not None for m in found)
        assert all(m.person_id == result.clusters[m.record_id] for m in found)
        assert [m.match_weight for m in found] == sorted((m.match_weight for m in found), reverse=True)
    pairs = sum(len(by_cluster[result.clusters[p.record_id]]) - 1 for p in sample)
    assert pairs > 100
    assert missed == 0 and extra == 0
    assert direct >= 0.98 * pairs  # and nearly every mate directly


def test_nothing_personal_is_stored_in_plain_form(session: Session, linked) -> None:  # type: ignore[no-untyped-def]
    records, result = linked
    people = [derive(r) for r in records[:200]]
    PersonIndex(session, Scorer.from_model(result.model, result.term_frequencies)).add(people)
    session.commit()
    stored = b"".join(f for (f,) in session.execute(select(PersonRecordRow.features)))
    keys = " ".join(session.scalars(select(PersonKey.key)))
    for p in people:
        for secret in (p.id_raw, p.phone, p.name):
            if secret:
                assert secret.encode() not in stored and secret not in keys
    assert all(k.startswith("h:") for k in keys.split())


def test_keys_follow_the_blocking_rules() -> None:
    from phip.identity.person import PersonRecord

    p = derive(
        PersonRecord(
            "r1", name="张丽", sex="2", birth_date="1985-03-07", phone="13912345678", division="620102001001"
        )
    )
    kinds = {k.split("|")[0] for k in blocking_keys(p)}
    assert kinds == {"pb", "bp3", "nc", "ps", "bcs", "sm", "p"}  # no identity number: no i / r / k keys
    assert grade(0.995) == "certain" and grade(0.95) == "probable" and grade(0.6) == "possible"

"""Linking the store end to end: every Patient gets a person with a golden record, ids stay stable
across relinking, manual decisions survive it, and imports are linked in real time afterwards."""

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity import decisions, persons, review
from phip.identity.events import link_pending
from phip.identity.linkage import pairwise_scores, read_truth
from phip.identity.models import PersonRecordRow, PersonRow
from phip.identity.store_link import link_store
from phip.store import init_db, make_engine
from phip.store.repository import Incoming, Repository


def _patients(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for f in sorted((folder / "submissions").rglob("Patient.ndjson")):
        out += [orjson.loads(line) for line in f.read_bytes().splitlines() if line.strip()]
    return out


@pytest.fixture(scope="module")
def store(small_province: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Path]]:
    folder = tmp_path_factory.mktemp("store-link")
    engine = make_engine(f"sqlite:///{folder / 'phip.db'}")
    init_db(engine)
    with Session(engine) as s:
        items = [
            Incoming(p, p["managingOrganization"]["reference"].split("/")[1])
            for p in _patients(small_province)
        ]
        Repository(s).bulk_upsert(items)
        s.commit()
        yield s, folder / "var"
    engine.dispose()


def test_link_store_relink_and_decisions(store: tuple[Session, Path], small_province: Path) -> None:
    s, var = store
    first = link_store(s, var)
    assert first["patients"] > 2000 and first["persons"] < first["patients"]
    assigned = {r: p.person_id for r, p in persons.priors(s).items()}
    assert review.counts(s).get("open", 0) == first["queued_for_review"] > 0
    # against the truth of the synthetic province
    truth = read_truth(small_province / "truth" / "persons.csv")
    scores = pairwise_scores({r: p or "" for r, p in assigned.items()}, truth)
    assert scores["records"] == first["patients"] and scores["precision"] >= 0.99 and scores["recall"] >= 0.98
    # a golden record for every person, built from exactly its records
    rows = s.scalars(select(PersonRow).where(PersonRow.status == "active")).all()
    assert len(rows) == first["persons"]
    sample = rows[:50]
    groups = persons.members(s, [r.person_id for r in sample])
    for r in sample:
        g = persons.golden_record(s, r.person_id)
        assert (
            g is not None and g["records"] == sorted(groups[r.person_id]) and r.records == len(g["records"])
        )
        assert all(v["record"] in g["records"] for v in g["attributes"].values())
    # relinking with the saved model changes no person id
    again = link_store(s, var, retrain=False)
    assert {r: p.person_id for r, p in persons.priors(s).items()} == assigned
    assert again["persons"] == first["persons"]
    # manual decisions survive a relink: a merge of two persons and an unlink out of a third
    by_person: dict[str, list[str]] = {}
    for rid, pid in sorted(assigned.items()):
        by_person.setdefault(pid or "", []).append(rid)
    singles = [p for p, rs in by_person.items() if len(rs) == 1][:2]
    multi = next(rs for rs in by_person.values() if len(rs) >= 2)
    decisions.merge(s, "staff:t", "province_admin", singles[1], singles[0])
    decisions.unlink(s, "staff:t", "province_admin", multi[0])
    s.commit()
    decided = {r: p.person_id for r, p in persons.priors(s).items()}
    third = link_store(s, var, retrain=False)
    assert {r: p.person_id for r, p in persons.priors(s).items()} == decided
    assert third["kept_by_hand"] == 3
    assert persons.resolve(s, singles[1]) == singles[0]


def test_imports_are_linked_in_real_time(store: tuple[Session, Path], small_province: Path) -> None:
    s, var = store
    if not (var / "empi" / "model.json").is_file():
        link_store(s, var)
    assert link_pending(s, var)["linked"] == 0  # nothing new since the batch linkage
    some = _patients(small_province)[:3]
    repo = Repository(s)
    twin = {**some[0], "id": "twin-of-0"}  # the same resident registered again elsewhere
    changed = {**some[1], "telecom": [{"system": "phone", "value": "13912345678"}]}
    repo.bulk_upsert([Incoming(twin, "620102-A100-01"), Incoming(changed, "620102-A100-01")])
    repo.delete("Patient", some[2]["id"])
    s.commit()
    result = link_pending(s, var)
    assert result == {**result, "linked": 2, "removed": 1}
    person_of = dict(s.execute(select(PersonRecordRow.record_id, PersonRecordRow.person_id)).all())
    assert person_of["Patient/twin-of-0"] == person_of[f"Patient/{some[0]['id']}"]
    assert f"Patient/{some[2]['id']}" not in person_of
    g = persons.golden_record(s, person_of[f"Patient/{some[1]['id']}"])
    assert g is not None and f"Patient/{some[1]['id']}" in g["records"]
    assert link_pending(s, var)["linked"] == 0  # idempotent: the cursor moved on

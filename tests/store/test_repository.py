"""The versioned resource store on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.store.errors import Conflict, Gone, NotFound, PreconditionFailed
from phip.store.models import Resource, ResourceHistory, SearchString
from phip.store.repository import Incoming, Repository, Scope


def patient(pid: str, name: str = "张丽华", gender: str = "female") -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"text": name}],
        "gender": gender,
        "birthDate": "1990-01-05",
    }


def test_create_read_update_vread_history_delete(session: Session) -> None:
    repo = Repository(session)
    created = repo.create(patient("p1"))
    assert created.outcome == "created"
    assert created.resource["meta"]["versionId"] == "1"
    assert repo.read("Patient", "p1")["name"][0]["text"] == "张丽华"
    with pytest.raises(Conflict):
        repo.create(patient("p1"))
    same = repo.update("Patient", "p1", patient("p1"))
    assert same.outcome == "unchanged"  # no new version for identical content
    changed = repo.update("Patient", "p1", patient("p1", gender="male"))
    assert changed.outcome == "updated" and changed.resource["meta"]["versionId"] == "2"
    assert repo.vread("Patient", "p1", 1)["gender"] == "female"
    assert repo.vread("Patient", "p1", 2)["gender"] == "male"
    with pytest.raises(PreconditionFailed):
        repo.update("Patient", "p1", patient("p1", gender="unknown"), if_match=1)
    versions = repo.history("Patient", "p1")
    assert [v[3] for v in versions] == [2, 1]
    assert repo.delete("Patient", "p1")
    with pytest.raises(Gone):
        repo.read("Patient", "p1")
    assert [v[4] for v in repo.history("Patient", "p1")] == [True, False, False]
    assert repo.vread("Patient", "p1", 2)["gender"] == "male"  # history is kept after delete
    with pytest.raises(NotFound):
        repo.read("Patient", "nobody")
    # a deleted resource can be re-created by an update
    again = repo.update("Patient", "p1", patient("p1"))
    assert again.outcome == "updated" and again.resource["meta"]["versionId"] == "4"
    session.commit()


def test_bulk_upsert_is_idempotent_and_versions(session: Session) -> None:
    repo = Repository(session)
    items = [Incoming(patient(f"b{i}", name=f"王{i}")) for i in range(30)]
    assert repo.bulk_upsert(items) == {"created": 30, "updated": 0, "unchanged": 0}
    assert repo.bulk_upsert(items) == {"created": 0, "updated": 0, "unchanged": 30}
    changed = [Incoming(patient("b3", name="王三"))]
    assert repo.bulk_upsert(changed) == {"created": 0, "updated": 1, "unchanged": 0}
    assert repo.read("Patient", "b3")["meta"]["versionId"] == "2"
    assert session.scalar(select(func.count()).select_from(ResourceHistory)) == 31
    # the old index rows went with the old version
    names = set(session.scalars(select(SearchString.value).where(SearchString.res_id == "b3")))
    assert "王三" in names and "王3" not in names
    session.commit()


def test_scope_hides_other_facilities(session: Session) -> None:
    Repository(session).bulk_upsert(
        [
            Incoming(patient("a1"), facility="F-A", org_path="620000/620100/620102/"),
            Incoming(patient("b1"), facility="F-B", org_path="620000/620500/620502/"),
        ]
    )
    county = Repository(session, Scope(org_path="620000/620100/"))
    assert county.read("Patient", "a1")
    with pytest.raises(NotFound):
        county.read("Patient", "b1")
    fac = Repository(session, Scope(facility="F-B"))
    assert fac.exists("Patient", "b1") and not fac.exists("Patient", "a1")
    with pytest.raises(NotFound):
        county.update("Patient", "b1", patient("b1", gender="male"))
    assert not county.delete("Patient", "b1")
    assert Repository(session).read("Patient", "b1")["gender"] == "female"


def test_version_stamp_lives_in_columns_and_is_served_with_the_resource(session: Session) -> None:
    repo = Repository(session)
    sent = {
        **patient("m1"),
        "meta": {"versionId": "77", "lastUpdated": "2020-01-01T00:00:00Z", "source": "s"},
    }
    repo.create(sent)
    repo.bulk_upsert([Incoming({**patient("m2"), "meta": {"versionId": "9"}})])
    session.commit()
    stored = dict(session.execute(select(Resource.res_id, Resource.content)).all())
    assert b"versionId" not in stored["m1"] and b"lastUpdated" not in stored["m1"]
    assert b'"meta"' not in stored["m2"]  # nothing else in meta: no empty meta kept
    m1 = repo.read("Patient", "m1")
    assert m1["meta"]["versionId"] == "1" and m1["meta"]["source"] == "s"
    assert m1["meta"]["lastUpdated"].endswith("Z") and not m1["meta"]["lastUpdated"].startswith("2020")
    assert repo.read("Patient", "m2")["meta"]["versionId"] == "1"
    assert repo.vread("Patient", "m1", 1)["meta"] == m1["meta"]


class Recorded:
    """An auditor that keeps what the repository told it."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, str]] = []

    def written(self, verb: str, target: str, outcome: str) -> None:
        self.entries.append(("written", verb, target, outcome))

    def refused(self, verb: str, target: str, outcome: str) -> None:
        self.entries.append(("refused", verb, target, outcome))


def test_a_repository_acting_for_a_caller_writes_only_its_own_records(session: Session) -> None:
    """Below the web: whoever calls the repository for a caller (a router, a workflow, a CLI),
    the caller's facility owns what it writes, another facility's record cannot be overwritten
    or deleted, and every write and refusal reaches the auditor."""
    from phip.store.errors import Forbidden

    Repository(session).create(patient("theirs"), facility="F2")
    audit = Recorded()
    mine = Repository(session, Scope(facility="F1"), writer="F1", auditor=audit)
    created = mine.create(patient("new"))
    assert session.get(Resource, ("Patient", created.resource["id"])).facility == "F1"  # type: ignore[union-attr]
    with pytest.raises(Forbidden):
        mine.create(patient("spoof"), facility="F2")
    with pytest.raises(Conflict):
        mine.update("Patient", "theirs", patient("theirs", name="改名"))
    with pytest.raises(NotFound):
        mine.delete("Patient", "theirs")
    assert Repository(session).read("Patient", "theirs")["name"][0]["text"] == "张丽华"  # untouched
    assert mine.update("Patient", "new", {**patient("new", name="王芳")}).outcome == "updated"
    assert mine.delete("Patient", "new") and not mine.delete("Patient", "never")
    with pytest.raises(Forbidden):
        Repository(session, Scope(facility="F1"), writer=None, auditor=audit).create(patient("x"))
    assert audit.entries == [
        ("written", "create", "Patient/new", "ok"),
        ("refused", "update", "Patient/theirs", "denied"),
        ("refused", "delete", "Patient/theirs", "denied"),
        ("written", "update", "Patient/new", "updated"),
        ("written", "delete", "Patient/new", "ok"),
        ("refused", "delete", "Patient/never", "not-found"),
        ("refused", "create", "Patient/x", "denied"),
    ]

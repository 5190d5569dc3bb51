"""Identity and phone numbers are encrypted at rest and found by keyed hash."""

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from phip.standards import idcard
from phip.store import init_db, make_engine, protect
from phip.store.models import Resource, SearchToken
from phip.store.repository import Incoming, Repository
from phip.store.search import search

NUM = idcard.make("620102", date(1988, 8, 8), 4, True)
PHONE = "13912345678"


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    protect.configure("00112233445566778899aabbccddeeff")
    engine = make_engine(db_url)
    init_db(engine)
    with Session(engine) as s:
        Repository(s).bulk_upsert(
            [
                Incoming(
                    {
                        "resourceType": "Patient",
                        "id": "p1",
                        "name": [{"text": "马明"}],
                        "gender": "male",
                        "identifier": [
                            {"system": "https://phip.health/fhir/sid/resident-id", "value": NUM},
                            {"system": "urn:mrn", "value": "MRN-1"},
                        ],
                        "telecom": [
                            {"system": "phone", "value": PHONE},
                            {"system": "email", "value": "a@b.cn"},
                        ],
                    }
                )
            ]
        )
        Repository(s).create(
            {
                "resourceType": "Patient",
                "id": "p2",
                "identifier": [
                    {"system": "https://phip.health/fhir/sid/resident-id", "value": "11010519491231002X"}
                ],
            }
        )
        s.commit()
        yield s
    engine.dispose()


def test_not_stored_in_plain_but_read_back(session: Session) -> None:
    blobs = b"".join(session.scalars(select(Resource.content)))
    assert NUM.encode() not in blobs and PHONE.encode() not in blobs and b"11010519491231002X" not in blobs
    assert b"MRN-1" in blobs  # other identifiers are not personal numbers
    index = " ".join(session.scalars(select(SearchToken.code)))
    assert NUM not in index and PHONE not in index
    p1 = Repository(session).read("Patient", "p1")
    assert p1["identifier"][0]["value"] == NUM and p1["telecom"][0]["value"] == PHONE
    dump = " ".join(str(r) for r in session.execute(text("SELECT * FROM resource_history")).all())
    assert NUM not in dump


def test_exact_lookup_by_hash(session: Session) -> None:
    repo = Repository(session)
    by_system = search(repo, "Patient", [("identifier", f"https://phip.health/fhir/sid/resident-id|{NUM}")])
    assert [r["id"] for r in by_system.resources] == ["p1"]
    assert [r["id"] for r in search(repo, "Patient", [("identifier", NUM)]).resources] == ["p1"]
    assert [r["id"] for r in search(repo, "Patient", [("identifier", "MRN-1")]).resources] == ["p1"]
    assert [r["id"] for r in search(repo, "Patient", [("phone", PHONE)]).resources] == ["p1"]
    assert search(repo, "Patient", [("identifier", NUM[:-1] + "0")]).resources == []


def test_wrong_key_is_a_clear_error(session: Session) -> None:
    protect.configure("ffeeddccbbaa99887766554433221100")
    with pytest.raises(protect.DataKeyError):
        Repository(session).read("Patient", "p1")
    protect.configure("00112233445566778899aabbccddeeff")
    with pytest.raises(protect.DataKeyError):
        protect.configure("abc")
        protect.keys()
    protect.configure("00112233445566778899aabbccddeeff")
    assert protect.decrypt_bytes(protect.encrypt_bytes(b"raw record")) == b"raw record"

"""FHIR search: parameters, Chinese-aware names, dates, paging without OFFSET, scope, _include."""

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.store import init_db, make_engine
from phip.store.errors import InvalidSearch
from phip.store.models import SearchReference
from phip.store.repository import Incoming, Repository, Scope
from phip.store.search import search
from tests.conftest import database_url

DIV = "https://phip.health/fhir/StructureDefinition/division-code"


def _patient(pid: str, name: str, gender: str, birth: str, village: str, fac: str, path: str) -> Incoming:
    return Incoming(
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": "https://phip.health/fhir/sid/resident-id", "value": f"ID{pid}"}],
            "name": [{"text": name}],
            "gender": gender,
            "birthDate": birth,
            "address": [{"text": "x", "extension": [{"url": DIV, "valueCode": village}]}],
        },
        facility=fac,
        org_path=path,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repository]:
    url = database_url(request, tmp_path_factory.mktemp("search"), "search")
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as s:
        r = Repository(s)
        lz, ts = "620000/620100/620102/", "620000/620500/620502/"
        r.bulk_upsert(
            [
                _patient("p1", "张丽", "female", "1990-01-05", "620102001201", "F-LZ", lz),
                _patient("p2", "张丽华", "female", "1985-06-01", "620102002201", "F-LZ", lz),
                _patient("p3", "章力", "male", "1990-03-03", "620502001201", "F-TS", ts),
                _patient("p4", "王伟", "male", "2001-12-31", "620502001202", "F-TS", ts),
                _patient("p5", "Zhang Li", "female", "1990-07-07", "620102001201", "F-LZ", lz),
            ]
        )
        enc = []
        for i in range(120):
            pid = f"p{1 + i % 4}"
            enc.append(
                Incoming(
                    {
                        "resourceType": "Encounter",
                        "id": f"e{i:03d}",
                        "status": "finished" if i % 3 else "in-progress",
                        "class": {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "AMB",
                        },
                        "subject": {"reference": f"Patient/{pid}"},
                        "period": {
                            "start": f"2025-{1 + i % 12:02d}-15T09:00:00+08:00",
                            "end": f"2025-{1 + i % 12:02d}-15T09:30:00+08:00",
                        },
                        "serviceProvider": {
                            "reference": "Organization/F-LZ" if pid in ("p1", "p2") else "Organization/F-TS"
                        },
                    },
                    facility="F-LZ" if pid in ("p1", "p2") else "F-TS",
                    org_path=lz if pid in ("p1", "p2") else ts,
                )
            )
        r.bulk_upsert(enc)
        s.commit()
        yield r
    engine.dispose()


def ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(r["id"] for r in result.resources)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("name", "张丽")], ["p1", "p2"]),  # a hanzi substring
        ([("name", "丽")], ["p1", "p2"]),
        ([("name", "zhangli")], ["p1", "p2", "p3", "p5"]),  # pinyin finds 张丽, 张丽华, 章力 and Zhang Li
        ([("name", "Zhang Li")], ["p1", "p2", "p3", "p5"]),
        ([("name:exact", "张丽")], ["p1", "p2"]),
        ([("gender", "male")], ["p3", "p4"]),
        ([("birthdate", "1990")], ["p1", "p3", "p5"]),
        ([("birthdate", "ge1990-03-01")], ["p3", "p4", "p5"]),
        ([("birthdate", "lt1990-01-06")], ["p1", "p2"]),
        ([("address", "620102")], ["p1", "p2", "p5"]),  # a county code matches every village below
        ([("address", "620502001")], ["p3", "p4"]),
        ([("address", "620100")], ["p1", "p2", "p5"]),
        ([("identifier", "https://phip.health/fhir/sid/resident-id|IDp2")], ["p2"]),
        ([("identifier", "IDp4")], ["p4"]),
        ([("_id", "p1,p4")], ["p1", "p4"]),
        ([("gender", "female"), ("birthdate", "1990")], ["p1", "p5"]),
    ],
)
def test_patient_search(repo: Repository, query: list[tuple[str, str]], expected: list[str]) -> None:
    assert ids(search(repo, "Patient", query)) == expected


def test_reference_token_and_date_search(repo: Repository) -> None:
    assert len(search(repo, "Encounter", [("patient", "Patient/p1"), ("_count", "100")]).resources) == 30
    assert len(search(repo, "Encounter", [("subject", "p1"), ("_count", "100")]).resources) == 30
    assert (
        len(search(repo, "Encounter", [("organization", "Organization/F-TS"), ("_count", "200")]).resources)
        == 60
    )
    assert len(search(repo, "Encounter", [("status", "in-progress"), ("_count", "200")]).resources) == 40
    march = search(repo, "Encounter", [("date", "2025-03"), ("_count", "200")])
    assert len(march.resources) == 10
    assert all(r["period"]["start"].startswith("2025-03") for r in march.resources)
    assert search(repo, "Encounter", [("date", "ge2025-11-01"), ("_summary", "count")]).total == 20


def test_summary_count_and_keyset_paging(repo: Repository) -> None:
    assert search(repo, "Encounter", [("_summary", "count")]).total == 120
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        q = [("_count", "25"), ("_sort", "-_lastUpdated")]
        if cursor:
            q.append(("_cursor", cursor))
        page = search(repo, "Encounter", q)
        seen += [r["id"] for r in page.resources]
        pages += 1
        cursor = page.next_cursor
        if not cursor:
            break
    assert pages == 5 and len(seen) == 120 and len(set(seen)) == 120
    by_id = []
    cursor = None
    while True:
        page = search(repo, "Encounter", [("_count", "50"), *([("_cursor", cursor)] if cursor else [])])
        by_id += [r["id"] for r in page.resources]
        cursor = page.next_cursor
        if not cursor:
            break
    assert by_id == sorted(by_id) and len(by_id) == 120


def test_sort_by_date_with_keyset_paging(repo: Repository) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        q = [("_count", "7"), ("_sort", "-date"), ("patient", "p1")]
        page = search(repo, "Encounter", [*q, *([("_cursor", cursor)] if cursor else [])])
        seen += [r["period"]["start"] + r["id"] for r in page.resources]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == 30 and seen == sorted(seen, key=lambda x: x[:25], reverse=True)
    assert len(set(seen)) == 30
    with pytest.raises(InvalidSearch):
        search(repo, "Encounter", [("_sort", "status")])


def test_scope_applies_to_results_and_counts(repo: Repository) -> None:
    county = Repository(repo.session, Scope(org_path="620000/620100/"))
    assert ids(search(county, "Patient", [("name", "zhangli")])) == ["p1", "p2", "p5"]
    assert search(county, "Encounter", [("_summary", "count")]).total == 60
    assert search(county, "Encounter", [("patient", "p3"), ("_summary", "count")]).total == 0
    assert (
        search(Repository(repo.session, Scope(facility="F-TS")), "Patient", [("_summary", "count")]).total
        == 2
    )


def test_include(repo: Repository) -> None:
    result = search(
        repo, "Encounter", [("patient", "p3"), ("_include", "Encounter:subject"), ("_count", "5")]
    )
    assert [r["id"] for r in result.included] == ["p3"]
    # `patient` is an alias of `subject` here: it shares its index rows
    alias = search(repo, "Encounter", [("patient", "p3"), ("_include", "Encounter:patient"), ("_count", "5")])
    assert [r["id"] for r in alias.included] == ["p3"]
    params = set(
        repo.session.scalars(select(SearchReference.param).where(SearchReference.res_type == "Encounter"))
    )
    assert "subject" in params and "patient" not in params
    scoped = Repository(repo.session, Scope(org_path="620000/620100/"))
    assert search(scoped, "Encounter", [("_id", "e002"), ("_include", "Encounter:subject")]).included == []


@pytest.mark.parametrize(
    "query",
    [
        [("nonsense", "1")],
        [("birthdate", "not-a-date")],
        [("_sort", "name")],
        [("_cursor", "garbage!")],
        [("_count", "x")],
        [("_include", "Patient:subject")],
    ],
)
def test_bad_searches_are_clear_errors(repo: Repository, query: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidSearch):
        search(repo, "Encounter", query)

"""Issue 19, finding 5 (person index): a person's golden record and decisions (merged-away and
emptied persons, reverted decisions included) only for a steward who may see a record that is or
was in it, else exactly the 404 of a person that does not exist; decisions list only the records
(and persons) in the caller's scope; review-queue counts only over what the caller may see; huge
paging values and ids are refused with 4xx, not 500. On SQLite and PostgreSQL, over HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from phip.identity import persons, review
from phip.identity.store_link import link_store
from phip.standards import idcard
from phip.store import get_engine
from tests.web.conftest import Api, install_model
from tests.web.test_fhir_api import patient, put

ZL = idcard.make("620102", date(1990, 1, 5), 7, False)  # at both facilities
WJG1 = idcard.make("620502", date(1972, 6, 1), 40, True)  # F1 (Lanzhou)
WJG2 = idcard.make("620502", date(1972, 6, 1), 41, True)  # F2 (Tianshui): another man
LM = idcard.make("620502", date(1985, 2, 2), 11, False)  # F2 only
ZQ = idcard.make("620502", date(1960, 8, 8), 13, True)  # F2 only


def _setup(api: Api, empi_model: tuple[dict, dict]) -> dict[str, str]:  # type: ignore[type-arg]
    """Record → person. 张丽 at both facilities (one person); 王建国 at F1 and another 王建国 at
    F2; 李梅 and 赵强 at F2 only. Review items: the two 王建国 (across prefectures), 李梅 and 赵强
    (both in Tianshui)."""
    for who, res in (
        ("f1-his", patient("f1-zl", "张丽", ZL)),
        ("f2-his", patient("f2-zl", "张丽", ZL)),
        ("f1-his", patient("f1-wjg", "王建国", WJG1)),
        ("f2-his", patient("f2-wjg", "王建国", WJG2)),
        ("f2-his", patient("f2-lm", "李梅", LM)),
        ("f2-his", patient("f2-zq", "赵强", ZQ)),
    ):
        assert put(api, who, res).status_code == 201
    install_model(api, empi_model)
    with Session(get_engine(api.settings.database_url)) as s:
        link_store(s, api.settings.var_dir, retrain=False)
        pid = {r: p.person_id or "" for r, p in persons.priors(s).items()}
        review.offer(
            s, [("Patient/f1-wjg", "Patient/f2-wjg", 0.8), ("Patient/f2-lm", "Patient/f2-zq", 0.6)], pid
        )
        s.commit()
    assert pid["Patient/f1-zl"] == pid["Patient/f2-zl"]
    assert len({pid[f"Patient/{r}"] for r in ("f1-zl", "f1-wjg", "f2-wjg", "f2-lm", "f2-zq")}) == 5
    return pid


def _get(api: Api, who: str, path: str) -> Any:
    return api.client.get(path, headers=api.h(who))


def _post(api: Api, who: str, path: str, body: dict[str, Any]) -> Any:
    return api.client.post(path, json=body, headers=api.h(who))


def _same_as_missing(api: Api, who: str, path: str, real: str, missing: str) -> None:
    """`path` with a real id answers exactly as with an id that does not exist."""
    a, b = _get(api, who, path.format(real)), _get(api, who, path.format(missing))
    assert a.status_code == b.status_code == 404, (a.text, b.text)
    assert a.text.replace(real, "ID") == b.text.replace(missing, "ID")
    assert a.headers["content-type"] == b.headers["content-type"]


def test_merged_away_person_and_its_decisions_only_for_who_saw_its_records(
    api: Api,
    empi_model: tuple[dict, dict],  # type: ignore[type-arg]
) -> None:
    pid = _setup(api, empi_model)
    lm, zq = pid["Patient/f2-lm"], pid["Patient/f2-zq"]
    m = _post(api, "ts-county", "/api/empi/merge", {"source": zq, "target": lm, "reason": "same woman"})
    assert m.status_code == 200, m.text
    event = m.json()["decision"]
    # the Tianshui steward sees the merged-away person, its history, and the FHIR pointer
    mine = _get(api, "ts-county", f"/api/empi/persons/{zq}")
    assert mine.status_code == 200, mine.text
    assert mine.json()["status"] == "merged" and mine.json()["merged_into"] == lm
    assert [d["action"] for d in mine.json()["decisions"]] == ["merge"]
    pointer = _get(api, "ts-county", f"/fhir/Person/{zq}")
    assert pointer.status_code == 200 and pointer.json()["active"] is False
    # a steward of another county, or of a facility elsewhere: as if the person never existed
    for who in ("lz-county", "f1-admin"):
        for person in (zq, lm):
            _same_as_missing(api, who, "/api/empi/persons/{}", person, "P00000000000000000000")
            _same_as_missing(api, who, "/fhir/Person/{}", person, "P00000000000000000000")
        # nor can they undo (or learn of) the decision
        r = _post(api, who, f"/api/empi/decisions/{event}/revert", {})
        missing = _post(api, who, "/api/empi/decisions/987654/revert", {})
        assert r.status_code == missing.status_code == 404
        assert r.text.replace(str(event), "N") == missing.text.replace("987654", "N")
        # nor merge into it
        r = _post(api, who, "/api/empi/merge", {"source": pid["Patient/f1-wjg"], "target": lm})
        assert r.status_code == 404 and lm in r.text and "merged" not in r.text
    # reverted decisions keep the same rule
    u = _post(api, "ts-county", f"/api/empi/decisions/{event}/revert", {"reason": "not the same"})
    assert u.status_code == 200, u.text
    assert [d["action"] for d in _get(api, "ts-county", f"/api/empi/persons/{zq}").json()["decisions"]] == [
        "merge",
        "revert",
    ]
    for person in (zq, lm):
        _same_as_missing(api, "lz-county", "/api/empi/persons/{}", person, "P00000000000000000000")
    # other roles are refused outright, as before
    assert _get(api, "doc1", f"/api/empi/persons/{zq}").status_code == 403
    assert _get(api, "prov", f"/api/empi/persons/{zq}").status_code == 200


def test_emptied_person_is_shown_to_who_saw_its_record(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    pid = _setup(api, empi_model)
    lm, zq = pid["Patient/f2-lm"], pid["Patient/f2-zq"]
    ln = _post(api, "ts-county", "/api/empi/link", {"record": "Patient/f2-zq", "person": lm})
    assert ln.status_code == 200, ln.text
    emptied = _get(api, "ts-county", f"/api/empi/persons/{zq}")
    assert emptied.status_code == 200 and emptied.json()["status"] == "empty"
    assert emptied.json()["records"] == [] and emptied.json()["decisions"][0]["action"] == "link"
    _same_as_missing(api, "lz-county", "/api/empi/persons/{}", zq, "P00000000000000000000")
    # linking into a person the caller cannot see: as a missing person
    r = _post(api, "lz-county", "/api/empi/link", {"record": "Patient/f1-wjg", "person": lm})
    missing = _post(api, "lz-county", "/api/empi/link", {"record": "Patient/f1-wjg", "person": "Pnope"})
    assert r.status_code == missing.status_code == 404
    assert r.text.replace(lm, "ID") == missing.text.replace("Pnope", "ID")
    # a record outside the caller's scope: as a missing record
    r = _post(api, "lz-county", "/api/empi/unlink", {"record": "Patient/f2-zl"})
    missing = _post(api, "lz-county", "/api/empi/unlink", {"record": "Patient/nope"})
    assert r.status_code == missing.status_code == 404
    assert r.text.replace("f2-zl", "ID") == missing.text.replace("nope", "ID")


def test_decisions_leave_out_records_and_persons_outside_scope(
    api: Api, empi_model: tuple[dict, dict]
) -> None:  # type: ignore[type-arg]
    pid = _setup(api, empi_model)
    a, b = pid["Patient/f1-wjg"], pid["Patient/f2-wjg"]
    m = _post(api, "prov", "/api/empi/merge", {"source": b, "target": a, "reason": "same man"})
    assert m.status_code == 200, m.text
    assert m.json()["records"] == ["Patient/f1-wjg", "Patient/f2-wjg"] and set(m.json()["persons"]) == {a, b}
    lz = _get(api, "lz-county", f"/api/empi/persons/{a}")
    assert lz.status_code == 200, lz.text
    body = lz.json()
    assert "hidden_records" not in body and [r["record"] for r in body["records"]] == ["Patient/f1-wjg"]
    (merge,) = body["decisions"]
    assert merge["records"] == ["Patient/f1-wjg"] and merge["persons"] == [a]
    # nothing of the other prefecture's record or of its former person, not even a count
    assert "f2-wjg" not in lz.text and b not in lz.text
    assert set(merge) == {
        "decision",
        "action",
        "actor",
        "at",
        "persons",
        "records",
        "reason",
        "reverted_by",
        "reverts",
    }
    # the merged-away person was Tianshui's only: Lanzhou does not see it
    _same_as_missing(api, "lz-county", "/api/empi/persons/{}", b, "P00000000000000000000")
    _same_as_missing(api, "lz-county", "/fhir/Person/{}", b, "P00000000000000000000")
    ts = _get(api, "ts-county", f"/api/empi/persons/{b}")
    assert ts.status_code == 200 and ts.json()["merged_into"] == a
    assert ts.json()["decisions"][0]["records"] == ["Patient/f2-wjg"] and "f1-wjg" not in ts.text
    # a facility administrator sees the decision naming their record, and nothing else
    fac = _get(api, "f1-admin", f"/api/empi/persons/{a}").json()
    assert fac["decisions"][0]["records"] == ["Patient/f1-wjg"] and "f2-wjg" not in str(fac)
    # the province sees everything, with its (province-wide) hidden count
    prov = _get(api, "prov", f"/api/empi/persons/{a}").json()
    assert "hidden_records" not in prov and prov["decisions"][0]["records"] == [
        "Patient/f1-wjg",
        "Patient/f2-wjg",
    ]


def test_review_counts_and_paging_within_scope(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    _setup(api, empi_model)
    prov = _get(api, "prov", "/api/empi/review").json()
    assert prov["counts"] == {"open": 2} and len(prov["items"]) == 2
    ts = _get(api, "ts-county", "/api/empi/review").json()
    assert ts["counts"] == {"open": 1}  # the cross-prefecture pair is not theirs to count
    assert [i["records"] for i in ts["items"]] == [["Patient/f2-lm", "Patient/f2-zq"]]
    # paging counts only what the caller sees: their one item is at offset 0, nothing at 1
    assert len(_get(api, "ts-county", "/api/empi/review?limit=1&offset=0").json()["items"]) == 1
    assert _get(api, "ts-county", "/api/empi/review?limit=1&offset=1").json()["items"] == []
    for who in ("lz-county", "f1-admin"):
        assert _get(api, who, "/api/empi/review").json() == {"counts": {}, "items": []}
        assert _get(api, who, "/api/empi/review?status=no-match").json() == {"counts": {}, "items": []}
    # a decided item counts for the province and the Tianshui steward only
    item = ts["items"][0]["id"]
    assert _post(api, "lz-county", f"/api/empi/review/{item}", {"decision": "no-match"}).status_code == 404
    assert _post(api, "ts-county", f"/api/empi/review/{item}", {"decision": "no-match"}).status_code == 200
    assert _get(api, "ts-county", "/api/empi/review").json()["counts"] == {"no-match": 1}
    assert _get(api, "prov", "/api/empi/review").json()["counts"] == {"open": 1, "no-match": 1}
    assert _get(api, "lz-county", "/api/empi/review").json()["counts"] == {}
    assert _get(api, "doc1", "/api/empi/review").status_code == 403


def test_huge_paging_values_and_ids_are_refused(api: Api) -> None:
    huge = 2**64
    for query in (
        f"offset={huge}",
        f"offset={10**30}",
        "offset=-1",
        f"limit={huge}",
        "limit=0",
        "limit=201",
        "status=" + "x" * 20,
    ):
        r = _get(api, "prov", f"/api/empi/review?{query}")
        assert 400 <= r.status_code < 500, (query, r.status_code, r.text)
    assert _get(api, "prov", "/api/empi/review?offset=1000000&limit=200").status_code == 200
    for path in (f"/api/empi/review/{huge}", f"/api/empi/decisions/{huge}/revert", "/api/empi/review/0"):
        r = _post(api, "prov", path, {"decision": "match"})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert _post(api, "prov", f"/api/empi/review/{2**63 - 1}", {"decision": "match"}).status_code == 404
    assert 400 <= _get(api, "prov", "/api/empi/persons/" + "P" * 200).status_code < 500
    assert 400 <= _get(api, "prov", "/fhir/Person/" + "P" * 200).status_code < 500
    # $match: a count that is not a small positive integer
    res = patient("q", "张丽", ZL)
    for count in (huge, 0, -1, "ten", 1.5):
        params = {
            "resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": res}, {"name": "count", "valueInteger": count}],
        }
        r = api.client.post("/fhir/Patient/$match", json=params, headers=api.h("prov"))
        assert 400 <= r.status_code < 500, (count, r.status_code)
    # the denied case stays a denial
    assert _get(api, "stat", f"/api/empi/review?offset={huge}").status_code in (400, 403, 422)
    assert _get(api, "stat", "/api/empi/review").status_code == 403

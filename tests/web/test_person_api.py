"""Stewardship API: review queue, link/unlink/merge/revert, persons, FHIR Person and Patient.link;
each with its access-denied cases."""

from datetime import date

from sqlalchemy.orm import Session

from phip.identity import persons, review
from phip.identity.store_link import link_store
from phip.standards import idcard
from phip.store import get_engine
from tests.web.conftest import Api, install_model
from tests.web.test_fhir_api import patient, put

NUM = idcard.make("620102", date(1990, 1, 5), 7, False)
OTHER = idcard.make("620502", date(1972, 6, 1), 40, True)


def _setup(api: Api, empi_model: tuple[dict, dict]) -> dict[str, str]:  # type: ignore[type-arg]
    """张丽 at both facilities (one person), 王建国 at F1 and 王建国 at F2 (different numbers:
    two persons), a possible match queued between the two 王建国 records."""
    for who, res in (
        ("f1-his", patient("f1-zl", "张丽", NUM)),
        ("f2-his", patient("f2-zl", "张丽", NUM)),
        ("f1-his", patient("f1-wjg", "王建国", OTHER)),
        ("f2-his", patient("f2-wjg", "王建国", idcard.make("620502", date(1972, 6, 1), 41, True))),
    ):
        assert put(api, who, res).status_code == 201
    install_model(api, empi_model)
    with Session(get_engine(api.settings.database_url)) as s:
        link_store(s, api.settings.var_dir, retrain=False)
        pid = {r: p.person_id or "" for r, p in persons.priors(s).items()}
        review.offer(s, [("Patient/f1-wjg", "Patient/f2-wjg", 0.8)], pid)
        s.commit()
    assert pid["Patient/f1-zl"] == pid["Patient/f2-zl"] != pid["Patient/f1-wjg"] != pid["Patient/f2-wjg"]
    return pid


def test_review_queue_and_decision(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    pid = _setup(api, empi_model)
    r = api.client.get("/api/empi/review", headers=api.h("prov"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"] == {"open": 1}
    item = body["items"][0]
    assert item["records"] == ["Patient/f1-wjg", "Patient/f2-wjg"]
    left, right = item["left"], item["right"]
    # an administrator compares masked values and the levels
    assert left["name"] == "王*国" and left["id_number"] == OTHER[:6] + "********" + OTHER[-4:]
    assert item["levels"]["id_number"] != "exact" and item["levels"]["name"] == "exact"
    assert right["person"] == pid["Patient/f2-wjg"]
    # a county administrator sees (and counts) only items with both records in the county; the
    # facility administrator likewise; other roles are refused
    assert api.client.get("/api/empi/review", headers=api.h("lz-county")).json() == {
        "counts": {},
        "items": [],
    }
    assert api.client.get("/api/empi/review", headers=api.h("f1-admin")).json() == {"counts": {}, "items": []}
    for who in ("doc1", "stat", "auditor", "resident1", "f1-his"):
        assert api.client.get("/api/empi/review", headers=api.h(who)).status_code == 403
    assert api.client.get("/api/empi/review", headers=api.h("anonymous")).status_code == 401
    path = f"/api/empi/review/{item['id']}"
    # out of scope answers as a missing item would (no oracle of ids)
    assert api.client.post(path, json={"decision": "match"}, headers=api.h("lz-county")).status_code == 404
    assert api.client.post(path, json={"decision": "maybe"}, headers=api.h("prov")).status_code == 400
    d = api.client.post(
        path, json={"decision": "no-match", "reason": "different sequence numbers"}, headers=api.h("prov")
    )
    assert d.status_code == 200, d.text
    assert d.json()["action"] == "no-match"
    assert api.client.post(path, json={"decision": "match"}, headers=api.h("prov")).status_code == 409
    assert api.client.get("/api/empi/review", headers=api.h("prov")).json()["counts"] == {"no-match": 1}


def test_merge_unmerge_link_unlink(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    pid = _setup(api, empi_model)
    a, b = pid["Patient/f1-wjg"], pid["Patient/f2-wjg"]
    before = api.client.get(f"/api/empi/persons/{a}", headers=api.h("prov")).json()
    m = api.client.post("/api/empi/merge", json={"source": b, "target": a}, headers=api.h("lz-county"))
    assert m.status_code == 404  # the county administrator sees none of person b's records
    m = api.client.post(
        "/api/empi/merge", json={"source": b, "target": a, "reason": "same man"}, headers=api.h("prov")
    )
    assert m.status_code == 200, m.text
    merged = api.client.get(f"/api/empi/persons/{a}", headers=api.h("prov")).json()
    assert [r["record"] for r in merged["records"]] == ["Patient/f1-wjg", "Patient/f2-wjg"]
    assert {r["link_status"] for r in merged["records"]} == {"manual"}
    assert merged["decisions"][-1]["action"] == "merge"
    # a county administrator sees the person with only their county's record and golden values from it
    lz = api.client.get(f"/api/empi/persons/{a}", headers=api.h("lz-county")).json()
    assert [r["record"] for r in lz["records"]] == ["Patient/f1-wjg"] and "hidden_records" not in lz
    assert len(merged["records"]) == 2  # province-wide: every record is shown
    assert lz["decisions"][-1]["records"] == ["Patient/f1-wjg"]  # the other county's record is left out
    assert all(v["record"] == "Patient/f1-wjg" for v in lz["golden"].values())
    # FHIR: Patient.link and the Person
    pat = api.client.get("/fhir/Patient/f1-wjg", headers=api.h("prov")).json()
    assert pat["link"] == [{"other": {"reference": "Patient/f2-wjg"}, "type": "seealso"}]
    assert (
        "link" not in api.client.get("/fhir/Patient/f1-wjg", headers=api.h("f1-his")).json()
    )  # out of scope
    person = api.client.get(f"/fhir/Person/{a}", headers=api.h("prov")).json()
    assert person["resourceType"] == "Person" and person["name"] == [{"use": "official", "text": "王建国"}]
    assert {lk["target"]["reference"]: lk["assurance"] for lk in person["link"]} == {
        "Patient/f1-wjg": "level4",
        "Patient/f2-wjg": "level4",
    }
    gone = api.client.get(f"/fhir/Person/{b}", headers=api.h("prov")).json()
    assert gone["active"] is False and gone["link"][0]["target"]["reference"] == f"Person/{a}"
    assert api.client.get(f"/fhir/Person/{a}", headers=api.h("resident1")).status_code == 404
    # unmerge: back exactly as before
    event = m.json()["decision"]
    assert (
        api.client.post(f"/api/empi/decisions/{event}/revert", json={}, headers=api.h("stat")).status_code
        == 403
    )
    u = api.client.post(f"/api/empi/decisions/{event}/revert", json={"reason": "no"}, headers=api.h("prov"))
    assert u.status_code == 200, u.text
    after = api.client.get(f"/api/empi/persons/{a}", headers=api.h("prov")).json()
    assert after["records"] == before["records"] and after["golden"] == before["golden"]
    assert [d["action"] for d in after["decisions"]] == ["merge", "revert"]
    # unlink and link by a facility administrator within their facility
    z = pid["Patient/f1-zl"]
    assert (
        api.client.post(
            "/api/empi/unlink", json={"record": "Patient/f2-zl"}, headers=api.h("f1-admin")
        ).status_code
        == 404  # another facility's record: as if it did not exist
    )
    un = api.client.post("/api/empi/unlink", json={"record": "Patient/f1-zl"}, headers=api.h("f1-admin"))
    assert un.status_code == 200, un.text
    new = next(p for p in un.json()["persons"] if p != z)
    fac = api.client.get(f"/api/empi/persons/{new}", headers=api.h("f1-admin")).json()
    assert fac["records"][0]["name"] == "张丽"  # plain for the facility's own administrator
    ln = api.client.post(
        "/api/empi/link", json={"record": "Patient/f1-zl", "person": z}, headers=api.h("prov")
    )
    assert ln.status_code == 200, ln.text
    assert (
        api.client.post(
            "/api/empi/link", json={"record": "Patient/f1-zl", "person": z}, headers=api.h("prov")
        ).status_code
        == 409
    )
    assert api.client.post(
        "/api/empi/link", json={"record": "Patient/x", "person": z}, headers=api.h("prov")
    ).status_code in (403, 404)
    assert api.client.get(f"/api/empi/persons/{z}", headers=api.h("doc1")).status_code == 403
    assert api.client.get("/api/empi/persons/Pnope", headers=api.h("prov")).status_code == 404

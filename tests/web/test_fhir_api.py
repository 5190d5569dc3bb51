"""The FHIR API: every interaction with its allowed and denied callers."""

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from phip.security import tokens as tk
from phip.security.audit import verify
from phip.standards import idcard
from phip.store import get_engine
from tests.web.conftest import Api

RESIDENT_ID = "https://phip.health/fhir/sid/resident-id"


def patient(pid: str, name: str = "张丽", id_number: str | None = None) -> dict:  # type: ignore[type-arg]
    num = id_number or idcard.make("620102", date(1990, 1, 5), 7, False)
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": RESIDENT_ID, "value": num}],
        "name": [{"text": name}],
        "gender": "female",
        "birthDate": "1990-01-05",
    }


def encounter(eid: str, pid: str) -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": "2025-03-01T09:00:00+08:00", "end": "2025-03-01T09:20:00+08:00"},
    }


def put(api: Api, who: str, res: dict, **headers: str):  # type: ignore[no-untyped-def,type-arg]
    return api.client.put(
        f"/fhir/{res['resourceType']}/{res['id']}", json=res, headers={**api.h(who), **headers}
    )


def test_metadata_and_openapi_are_public(api: Api) -> None:
    cap = api.client.get("/fhir/metadata").json()
    assert cap["resourceType"] == "CapabilityStatement" and cap["fhirVersion"] == "4.0.1"
    pat = next(r for r in cap["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"name", "identifier", "birthdate", "address"} <= {p["name"] for p in pat["searchParam"]}
    assert api.client.get("/openapi.json").status_code == 200


def test_authentication_is_required_and_checked(api: Api) -> None:
    assert api.client.get("/fhir/Patient/x").status_code == 401
    assert api.client.get("/fhir/Patient").status_code == 401
    assert api.client.post("/fhir/Patient", json=patient("x")).status_code == 401
    bad = api.client.get("/fhir/Patient", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401 and bad.json()["resourceType"] == "OperationOutcome"
    wrong = api.client.post("/api/auth/token", json={"client_id": "f1-his", "client_secret": "nope"})
    assert wrong.status_code == 401
    assert api.client.post("/api/auth/login", json={"username": "prov", "password": "x"}).status_code == 401


def test_key_rotation(api: Api) -> None:
    from phip.security import sessions

    with Session(get_engine(api.settings.resolved_database_url())) as s:
        sessions.open_session(s, "rotated-1", "staff:prov", "province_admin", 600)
        s.commit()
    claims = {"kind": "staff", "sub": "prov", "role": "province_admin", "jti": "rotated-1", "facility": None}
    claims["unit"] = "620000"  # the org unit the account holds, as a login puts it in the token
    old = tk.issue(claims, "retired-key")
    assert api.client.get("/fhir/Patient", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    api.settings.previous_secret_keys.append("retired-key")
    assert api.client.get("/fhir/Patient", headers={"Authorization": f"Bearer {old}"}).status_code == 200


def test_write_read_and_facility_isolation(api: Api) -> None:
    r = put(api, "f1-his", patient("pat-1"))
    assert r.status_code == 201 and r.headers["etag"] == 'W/"1"'
    got = api.client.get("/fhir/Patient/pat-1", headers=api.h("f1-his"))
    assert got.status_code == 200
    body = got.json()
    assert {k: v for k, v in body.items() if k != "meta"} == patient("pat-1")
    # another facility can neither see nor change it
    assert api.client.get("/fhir/Patient/pat-1", headers=api.h("f2-his")).status_code == 404
    assert api.client.get("/fhir/Patient", headers=api.h("f2-his")).json().get("entry") == []
    # neither says whose it is: the write is a conflict, the delete a not-found (as for a missing id)
    assert put(api, "f2-his", patient("pat-1", name="篡改")).status_code == 409
    assert api.client.delete("/fhir/Patient/pat-1", headers=api.h("f2-his")).status_code == 404
    assert api.client.get("/fhir/Patient/pat-1", headers=api.h("f1-his")).json()["name"][0]["text"] == "张丽"


def test_roles_and_scopes(api: Api) -> None:
    assert put(api, "f1-his", patient("pat-1")).status_code == 201
    assert (
        put(
            api,
            "f2-his",
            patient("pat-2", name="王伟", id_number=idcard.make("620502", date(1980, 2, 2), 3, True)),
        ).status_code
        == 201
    )
    # statisticians and auditors read no identified record (least privilege: docs/security.md)
    for who in ("stat", "auditor"):
        for path in (
            "/fhir/Patient",
            "/fhir/Patient/pat-1",
            "/fhir/Patient/pat-1/_history",
            "/fhir/Patient/$export",
        ):
            assert api.client.get(path, headers=api.h(who)).status_code == 403, (who, path)
    allowed = {
        "prov": 2,
        "lz-county": 1,
        "ts-county": 1,
        "doc1": 1,
        "f1-his": 1,
        "f2-his": 1,
        "resident1": 1,
    }
    for who, n in allowed.items():
        count = api.client.get("/fhir/Patient", params={"_summary": "count"}, headers=api.h(who)).json()[
            "total"
        ]
        assert count == n, who
    assert api.client.get("/fhir/Patient/pat-1", headers=api.h("lz-county")).status_code == 200
    assert api.client.get("/fhir/Patient/pat-1", headers=api.h("ts-county")).status_code == 404
    assert api.client.get("/fhir/Patient/pat-2", headers=api.h("resident1")).status_code == 404
    assert api.client.get("/fhir/Patient/pat-1", headers=api.h("resident1")).status_code == 200
    # only facility systems and facility staff write
    for who in ("prov", "lz-county", "stat", "auditor", "resident1"):
        assert put(api, who, patient("pat-9")).status_code == 403, who
        assert api.client.post("/fhir/Patient", json=patient("x"), headers=api.h(who)).status_code == 403
    assert put(api, "doc1", encounter("enc-1", "pat-1")).status_code == 201


def test_validation_errors_are_operation_outcomes(api: Api) -> None:
    bad = patient("pat-bad", id_number="620102199001050001")
    r = put(api, "f1-his", bad)
    assert r.status_code == 422
    codes = [i["details"]["coding"][0]["code"] for i in r.json()["issue"]]
    assert "profile:resident-id" in codes
    r = put(api, "f1-his", {"resourceType": "Patient", "id": "p", "birthDate": "1990-02-30"})
    assert r.status_code == 422 and r.json()["issue"][0]["code"] == "structure"
    r = put(api, "f1-his", encounter("e-dangling", "nobody"))
    assert r.status_code == 422 and "reference:unresolved" in r.text
    r = api.client.put("/fhir/Patient/p", content=b"{not json", headers=api.h("f1-his"))
    assert r.status_code == 400
    assert api.client.get("/fhir/NotAType/1", headers=api.h("f1-his")).status_code == 404
    r = api.client.get("/fhir/Patient", params={"nonsense": "1"}, headers=api.h("f1-his"))
    assert r.status_code == 400 and "nonsense" in r.text


def test_versions_history_delete(api: Api) -> None:
    put(api, "f1-his", patient("pat-1"))
    r = put(api, "f1-his", patient("pat-1", name="张丽华"))
    assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
    assert put(api, "f1-his", patient("pat-1", name="x"), **{"If-Match": 'W/"1"'}).status_code == 412
    assert (
        api.client.get("/fhir/Patient/pat-1/_history/1", headers=api.h("f1-his")).json()["name"][0]["text"]
        == "张丽"
    )
    assert api.client.get("/fhir/Patient/pat-1/_history/1", headers=api.h("f2-his")).status_code == 404
    hist = api.client.get("/fhir/Patient/pat-1/_history", headers=api.h("f1-his")).json()
    assert hist["type"] == "history" and len(hist["entry"]) == 2
    assert api.client.get("/fhir/Patient/pat-1/_history", headers=api.h("f2-his")).status_code == 404
    assert len(api.client.get("/fhir/Patient/_history", headers=api.h("f2-his")).json()["entry"]) == 0
    assert api.client.delete("/fhir/Patient/pat-1", headers=api.h("f1-his")).status_code == 204
    assert api.client.get("/fhir/Patient/pat-1", headers=api.h("f1-his")).status_code == 410
    assert api.client.delete("/fhir/Patient/nobody", headers=api.h("f1-his")).status_code == 404


def test_create_and_conditional_create_and_update(api: Api) -> None:
    body = patient("ignored")
    del body["id"]
    r = api.client.post("/fhir/Patient", json=body, headers=api.h("f1-his"))
    assert r.status_code == 201 and r.headers["location"].startswith("/fhir/Patient/")
    cond = {"If-None-Exist": f"identifier={RESIDENT_ID}|{body['identifier'][0]['value']}"}
    again = api.client.post("/fhir/Patient", json=body, headers={**api.h("f1-his"), **cond})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert (
        api.client.get("/fhir/Patient", params={"_summary": "count"}, headers=api.h("f1-his")).json()["total"]
        == 1
    )
    changed = {**body, "name": [{"text": "张丽娟"}]}
    upd = api.client.put(
        "/fhir/Patient",
        params={"identifier": body["identifier"][0]["value"]},
        json=changed,
        headers=api.h("f1-his"),
    )
    assert upd.status_code == 200 and upd.json()["id"] == r.json()["id"]
    assert upd.json()["name"][0]["text"] == "张丽娟"
    denied = api.client.put("/fhir/Patient", params={"identifier": "x"}, json=changed, headers=api.h("prov"))
    assert denied.status_code == 403


def test_search_paging_include_and_everything(api: Api) -> None:
    put(api, "f1-his", patient("pat-1"))
    for i in range(7):
        assert put(api, "f1-his", encounter(f"enc-{i}", "pat-1")).status_code == 201
    page = api.client.get(
        "/fhir/Encounter",
        params={"patient": "pat-1", "_count": "3", "_include": "Encounter:subject"},
        headers=api.h("f1-his"),
    ).json()
    matches = [e for e in page["entry"] if e["search"]["mode"] == "match"]
    assert len(matches) == 3 and any(e["search"]["mode"] == "include" for e in page["entry"])
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    second = api.client.get(nxt.replace("http://testserver", ""), headers=api.h("f1-his")).json()
    assert {e["resource"]["id"] for e in second["entry"]}.isdisjoint({e["resource"]["id"] for e in matches})
    everything = api.client.get("/fhir/Patient/pat-1/$everything", headers=api.h("f1-his")).json()
    assert everything["entry"][0]["resource"]["resourceType"] == "Patient" and everything["total"] == 8
    assert api.client.get("/fhir/Patient/pat-1/$everything", headers=api.h("f2-his")).status_code == 404
    assert (
        api.client.get("/fhir/Encounter", params={"patient": "pat-1"}, headers=api.h("f2-his")).json()[
            "entry"
        ]
        == []
    )
    res = api.client.post(
        "/fhir/Encounter/_search", data={"patient": "pat-1", "_summary": "count"}, headers=api.h("lz-county")
    )
    assert res.json()["total"] == 7
    assert (
        api.client.post(
            "/fhir/Encounter/_search",
            data={"patient": "pat-1", "_summary": "count"},
            headers=api.h("ts-county"),
        ).json()["total"]
        == 0
    )


@pytest.mark.parametrize("tamper", ["alter", "delete_middle", "delete_last"])
def test_every_access_is_audited_and_tampering_is_detected(api: Api, tamper: str) -> None:
    put(api, "f1-his", patient("pat-1"))
    api.client.get("/fhir/Patient/pat-1", headers=api.h("f1-his"))
    api.client.get("/fhir/Patient/pat-1", headers=api.h("f2-his"))  # denied, still audited
    engine = get_engine(api.settings.resolved_database_url())
    with Session(engine) as s:
        rows = s.execute(text("SELECT actor, action, target, outcome FROM audit_log ORDER BY seq")).all()
        assert ("facility:f1-his", "update", "Patient/pat-1", "created") in rows
        assert ("facility:f1-his", "read", "Patient/pat-1", "ok") in rows
        assert ("facility:f2-his", "read", "Patient/pat-1", "not-found") in rows
        assert verify(s).ok
        n = len(rows)
    with engine.begin() as c:
        if tamper == "alter":
            c.execute(text("UPDATE audit_log SET target = 'Patient/other' WHERE action = 'read'"))
        elif tamper == "delete_middle":
            c.execute(text("DELETE FROM audit_log WHERE seq = (SELECT min(seq) + 2 FROM audit_log)"))
        else:
            c.execute(text("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"))
    with Session(engine) as s:
        result = verify(s)
        assert not result.ok and result.entries <= n

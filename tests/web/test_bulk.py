"""Bulk Data: $import and $export kick-off, status polling, download, scope and pseudonyms."""

import time
from datetime import date

import orjson

from phip.standards import idcard
from tests.web.conftest import Api

RESIDENT_ID = "https://phip.health/fhir/sid/resident-id"
NUM = idcard.make("620102", date(1970, 3, 4), 5, False)


def _wait(api: Api, who: str, status_url: str) -> dict:  # type: ignore[type-arg]
    path = status_url.replace("http://testserver", "")
    for _ in range(200):
        r = api.client.get(path, headers=api.h(who))
        if r.status_code != 202:
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]
        assert r.headers.get("x-progress")
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def _ndjson(*records: dict) -> bytes:  # type: ignore[type-arg]
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def test_import_then_export_with_pseudonyms(api: Api) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "bp1",
        "identifier": [{"system": RESIDENT_ID, "value": NUM}],
        "name": [{"text": "赵敏"}],
        "gender": "female",
        "birthDate": "1970-03-04",
        "telecom": [{"system": "phone", "value": "13800000000"}],
    }
    bad = {"resourceType": "Patient", "id": "bp2", "birthDate": "1970-02-31"}
    r = api.client.post(
        "/fhir/$import",
        content=_ndjson(patient, bad),
        headers={**api.h("f1-his"), "Content-Type": "application/fhir+ndjson"},
    )
    assert r.status_code == 202
    result = _wait(api, "f1-his", r.headers["content-location"])
    summary = result["summary"]
    assert (summary["submitted"], summary["accepted"], summary["quarantined"]) == (2, 1, 1)
    # another caller cannot see the job
    assert (
        api.client.get(
            r.headers["content-location"].replace("http://testserver", ""), headers=api.h("f2-his")
        ).status_code
        == 404
    )

    k = api.client.get("/fhir/$export", headers={**api.h("lz-county"), "Prefer": "respond-async"})
    assert k.status_code == 202
    manifest = _wait(api, "lz-county", k.headers["content-location"])
    outputs = {o["type"]: o for o in manifest["output"]}
    assert outputs["Patient"]["count"] == 1
    f = api.client.get(outputs["Patient"]["url"].replace("http://testserver", ""), headers=api.h("lz-county"))
    assert f.status_code == 200
    exported = orjson.loads(f.content.splitlines()[0])
    assert NUM not in f.text and "13800000000" not in f.text  # pseudonyms, never the plain numbers
    assert exported["identifier"][0]["system"].endswith("pseudonym")
    assert (
        api.client.get(
            outputs["Patient"]["url"].replace("http://testserver", ""), headers=api.h("ts-county")
        ).status_code
        == 404
    )

    # the other county's export is empty: scope applies to exports too
    k2 = api.client.get("/fhir/Patient/$export", headers=api.h("ts-county"))
    assert _wait(api, "ts-county", k2.headers["content-location"])["output"] == []


def test_bulk_access_denied(api: Api) -> None:
    assert api.client.get("/fhir/$export").status_code == 401
    r = api.client.post("/fhir/$import", content=b"{}\n", headers=api.h("stat"))
    assert r.status_code == 403
    assert api.client.get("/fhir/$bulk-status/nope", headers=api.h("stat")).status_code == 404
    assert (
        api.client.get(
            "/fhir/$export", params={"_outputFormat": "text/csv"}, headers=api.h("prov")
        ).status_code
        == 400
    )


def test_group_export(api: Api) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "gp1",
        "identifier": [{"system": RESIDENT_ID, "value": NUM}],
        "name": [{"text": "赵敏"}],
        "gender": "female",
        "birthDate": "1970-03-04",
    }
    assert api.client.put("/fhir/Patient/gp1", json=patient, headers=api.h("f1-his")).status_code == 201
    group = {
        "resourceType": "Group",
        "id": "g1",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": "Patient/gp1"}}],
    }
    assert api.client.put("/fhir/Group/g1", json=group, headers=api.h("f1-his")).status_code == 201
    k = api.client.get("/fhir/Group/g1/$export", headers=api.h("f1-his"))
    assert k.status_code == 202
    manifest = _wait(api, "f1-his", k.headers["content-location"])
    assert {o["type"]: o["count"] for o in manifest["output"]} == {"Patient": 1}
    assert api.client.get("/fhir/Group/g1/$export", headers=api.h("f2-his")).status_code == 404

"""batch and transaction Bundles: all-or-nothing, urn:uuid rewriting, access control."""

from datetime import date

from phip.standards import idcard
from tests.web.conftest import Api

RESIDENT_ID = "https://phip.health/fhir/sid/resident-id"


def _tx(patient_ok: bool = True, kind: str = "transaction") -> dict:  # type: ignore[type-arg]
    num = idcard.make("620102", date(1975, 5, 6), 9, True)
    if not patient_ok:
        num = num[:17] + ("0" if num[17] != "0" else "1")
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": "urn:uuid:22222222-2222-2222-2222-222222222222"},
                    "period": {"start": "2025-04-01T08:00:00+08:00", "end": "2025-04-01T08:10:00+08:00"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": RESIDENT_ID, "value": num}],
                    "name": [{"text": "马明"}],
                    "gender": "male",
                    "birthDate": "1975-05-06",
                },
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={RESIDENT_ID}|{num}",
                },
            },
        ],
    }


def count(api: Api, who: str, rtype: str) -> int:
    return api.client.get(f"/fhir/{rtype}", params={"_summary": "count"}, headers=api.h(who)).json()["total"]


def test_transaction_rewrites_urn_uuid_references(api: Api) -> None:
    r = api.client.post("/fhir", json=_tx(), headers=api.h("f1-his"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201", "201"]
    enc_loc, pat_loc = (e["response"]["location"] for e in body["entry"])
    enc = api.client.get(f"/fhir/{enc_loc.split('/_history')[0]}", headers=api.h("f1-his")).json()
    assert enc["subject"]["reference"] == pat_loc.split("/_history")[0]
    # resubmitting: the conditional create finds the patient, only a new encounter is added
    again = api.client.post("/fhir", json=_tx(), headers=api.h("f1-his"))
    assert again.status_code == 200
    assert count(api, "f1-his", "Patient") == 1 and count(api, "f1-his", "Encounter") == 2


def test_transaction_is_all_or_nothing(api: Api) -> None:
    r = api.client.post("/fhir", json=_tx(patient_ok=False), headers=api.h("f1-his"))
    assert r.status_code == 422
    assert r.json()["resourceType"] == "OperationOutcome" and "profile:resident-id" in r.text
    assert count(api, "prov", "Patient") == 0 and count(api, "prov", "Encounter") == 0


def test_batch_reports_each_entry(api: Api) -> None:
    bundle = _tx(patient_ok=False, kind="batch")
    bundle["entry"].append(
        {
            "resource": {"resourceType": "Organization", "name": "甲"},
            "request": {"method": "POST", "url": "Organization"},
        }
    )
    r = api.client.post("/fhir", json=bundle, headers=api.h("f1-his"))
    assert r.status_code == 200
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses == ["422", "422", "201"]  # the encounter's patient is invalid, the organization is fine
    assert count(api, "f1-his", "Organization") == 1


def test_bundle_access_control(api: Api) -> None:
    assert api.client.post("/fhir", json=_tx()).status_code == 401
    denied = api.client.post("/fhir", json=_tx(), headers=api.h("prov"))
    assert denied.status_code == 403
    assert count(api, "prov", "Patient") == 0
    reads = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient?_summary=count"}}],
    }
    assert api.client.post("/fhir", json=reads, headers=api.h("prov")).status_code == 200
    assert (
        api.client.post(
            "/fhir", json={"resourceType": "Bundle", "type": "collection"}, headers=api.h("f1-his")
        ).status_code
        == 400
    )

"""The authorisation matrix: every route × every kind of caller × a record in and out of the
caller's scope. Expected outcomes are written out per route, so a change of policy is a visible
change here; a test also checks that every route in the OpenAPI is in the matrix."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from phip.standards import idcard
from tests.web.conftest import Api

RESIDENT_ID = "https://phip.health/fhir/sid/resident-id"
pytestmark = pytest.mark.slow  # about 4 minutes on both databases; runs in CI
CALLERS = (
    "anonymous",
    "f1-his",
    "f2-his",
    "doc1",
    "f1-admin",
    "lz-county",
    "ts-county",
    "prov",
    "stat",
    "auditor",
    "resident1",
)
F1_WRITERS = {"f1-his", "doc1", "f1-admin"}
WRITERS = F1_WRITERS | {"f2-his"}
#: $import is a facility system's interface; people write record by record (audited each)
IMPORTERS = {"f1-his", "f2-his"}
#: who may read the F1 Patient `pat-1` (resident1 is that resident)
SEES_PAT1 = {"f1-his", "doc1", "f1-admin", "lz-county", "prov", "resident1"}
#: readers of records at all (statisticians and auditors are not)
READERS = set(CALLERS) - {"anonymous", "stat", "auditor"}
STEWARDS = {"f1-admin", "lz-county", "ts-county", "prov"}
INDICATOR_READERS = {"f1-admin", "lz-county", "ts-county", "prov", "stat"}
AREA = {"lz-county", "ts-county", "prov", "stat"}


def _patient(pid: str, county: str, seq: int) -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": RESIDENT_ID, "value": idcard.make(county, date(1975, 4, 3), seq, False)}],
        "name": [{"text": "林"}],
        "gender": "female",
        "birthDate": "1975-04-03",
    }


def _encounter(eid: str, pid: str) -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": "2026-10-01T09:00:00+08:00"},
    }


def _seed(api: Api) -> None:
    h = {"Content-Type": "application/fhir+json"}
    for who, res in (
        ("f1-his", _patient("pat-1", "620102", 3)),
        ("f2-his", _patient("pat-2", "620502", 5)),
        ("f1-his", _encounter("enc-1", "pat-1")),
    ):
        r = api.client.put(
            f"/fhir/{res['resourceType']}/{res['id']}", content=orjson.dumps(res), headers={**api.h(who), **h}
        )
        assert r.status_code == 201, r.text


def _expect(who: str, allowed: set[str], hidden: set[str] | None = None) -> set[int]:
    """The statuses a caller may get: allowed → 2xx; hidden (out of scope) → 404; else 401/403."""
    if who == "anonymous":
        return {401}
    if who in allowed:
        return {200, 201, 202, 204}
    if hidden is not None and who in hidden:
        return {404}
    return {403}


READ_ROUTES = [
    "/fhir/Patient/pat-1",
    "/fhir/Patient/pat-1/_history",
    "/fhir/Patient/pat-1/_history/1",
    "/fhir/Patient/pat-1/$everything",
    "/fhir/Encounter/enc-1",
]


@pytest.mark.parametrize("path", READ_ROUTES)
def test_reading_a_record(api: Api, path: str) -> None:
    _seed(api)
    for who in CALLERS:
        r = api.client.get(path, headers=api.h(who))
        hidden = READERS - SEES_PAT1  # out of scope reads exactly like missing
        assert r.status_code in _expect(who, SEES_PAT1, hidden), (who, path, r.status_code)
        if r.status_code >= 400:
            assert r.json()["resourceType"] == "OperationOutcome"
            assert "林" not in r.text and "1975-04-03" not in r.text  # nothing of the record


@pytest.mark.parametrize("path", ["/fhir/Patient", "/fhir/Patient/_history", "/fhir/Encounter?patient=pat-1"])
def test_searching(api: Api, path: str) -> None:
    _seed(api)
    for who in CALLERS:
        r = api.client.get(path, headers=api.h(who))
        assert r.status_code in _expect(who, READERS), (who, path, r.status_code)
        if r.status_code == 200:
            found = {e["resource"]["id"] for e in r.json().get("entry", []) if "resource" in e}
            sees = who in SEES_PAT1
            assert ("pat-1" in found or "enc-1" in found) == sees, (who, path, found)
            assert ("pat-2" in found) == (who in {"f2-his", "ts-county", "prov"}) or "Encounter" in path


def test_writing(api: Api) -> None:
    _seed(api)
    h = {"Content-Type": "application/fhir+json"}
    for i, who in enumerate(CALLERS):
        res = _patient("pat-1", "620102", 3) | {"name": [{"text": f"林{i}"}]}
        r = api.client.put("/fhir/Patient/pat-1", content=orjson.dumps(res), headers={**api.h(who), **h})
        expected = _expect(who, F1_WRITERS) if who != "f2-his" else {409}
        assert r.status_code in expected, (who, r.status_code, r.text[:200])
        new = api.client.post(
            "/fhir/Encounter", content=orjson.dumps(_encounter("x", "pat-1")), headers={**api.h(who), **h}
        )
        # a writer of another facility cannot refer to F1's Patient: it reads as missing
        assert new.status_code in (_expect(who, F1_WRITERS) if who != "f2-his" else {422}), (
            who,
            new.status_code,
        )
        if new.status_code == 201:
            eid = new.json()["id"]
            assert api.client.delete(f"/fhir/Encounter/{eid}", headers=api.h("f2-his")).status_code == 404
            assert api.client.delete(f"/fhir/Encounter/{eid}", headers=api.h(who)).status_code == 204
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": _encounter(f"b{i}", "pat-1"),
                    "request": {"method": "PUT", "url": f"Encounter/b{i}"},
                }
            ],
        }
        b = api.client.post("/fhir", content=orjson.dumps(bundle), headers={**api.h(who), **h})
        assert b.status_code in (_expect(who, F1_WRITERS) if who != "f2-his" else {422}), (who, b.status_code)


def test_bulk(api: Api) -> None:
    _seed(api)
    for who in CALLERS:
        r = api.client.post(
            "/fhir/$import",
            content=orjson.dumps(_encounter("i1", "pat-1")) + b"\n",
            headers={**api.h(who), "Content-Type": "application/fhir+ndjson"},
        )
        assert r.status_code in _expect(who, IMPORTERS), (who, r.status_code)
        for path in ("/fhir/$export", "/fhir/Patient/$export"):
            k = api.client.get(path, headers=api.h(who))
            assert k.status_code in _expect(who, READERS), (who, path, k.status_code)
            if k.status_code == 202:
                status = k.headers["content-location"].replace("http://testserver", "")
                others = [o for o in CALLERS if o not in (who, "anonymous")]
                for other in others[:3]:  # nobody else sees the job
                    assert api.client.get(status, headers=api.h(other)).status_code == 404
        g = api.client.get("/fhir/Group/none/$export", headers=api.h(who))
        assert g.status_code in (
            {401} if who == "anonymous" else {403} if who in ("stat", "auditor") else {404}
        )


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/indicators/catalogue", INDICATOR_READERS),
        # a facility sees its own quality (its scorecard rows are its own; tests/quality)
        ("/api/quality/rules", AREA | {"f1-admin", "f1-his", "f2-his"}),
        ("/api/quality/scorecard?level=county", AREA | {"f1-admin", "f1-his", "f2-his"}),
        ("/api/card/usage", {"f1-admin", "lz-county", "ts-county", "prov", "stat"}),
        ("/api/empi/review", STEWARDS),
    ],
)
def test_platform_api_roles(api: Api, path: str, allowed: set[str]) -> None:
    for who in CALLERS:
        r = api.client.get(path, headers=api.h(who))
        if who in allowed:
            assert r.status_code not in (401, 403), (who, path, r.status_code)
            assert r.status_code < 500
        else:
            assert r.status_code == (401 if who == "anonymous" else 403), (who, path, r.status_code)


#: every route of the OpenAPI, and the test above that covers it
COVERED = {
    "/api/auth/token": "tests/web/test_fhir_api.py, test_sessions.py",
    "/api/auth/login": "test_sessions.py",
    "/api/auth/logout": "test_sessions.py",
    "/api/card/verify": "tests/web/test_card_api.py::test_access_denied",
    "/api/card/qr.svg": "tests/web/test_card_api.py::test_access_denied",
    "/api/card/usage": "test_platform_api_roles",
    "/api/empi/review": "test_platform_api_roles",
    "/api/empi/review/{item_id}": "tests/web/test_person_api.py",
    "/api/empi/link": "tests/web/test_person_api.py",
    "/api/empi/unlink": "tests/web/test_person_api.py",
    "/api/empi/merge": "tests/web/test_person_api.py",
    "/api/empi/decisions/{event_id}/revert": "tests/web/test_person_api.py",
    "/api/empi/persons/{person_id}": "tests/web/test_person_api.py",
    "/api/indicators/catalogue": "test_platform_api_roles",
    "/api/indicators": "tests/analytics/test_indicators.py",
    "/api/quality/rules": "test_platform_api_roles",
    "/api/quality/scorecard": "test_platform_api_roles",
    "/api/quality/report": "tests/quality/test_api.py",
    "/api/quality/acknowledge": "tests/quality/test_api.py",
    "/api/quality/metrics": "tests/quality/test_api.py",
    "/api/quality/summary": "tests/quality/test_api.py",
    "/fhir/Patient/$match": "tests/web/test_empi_api.py",
    "/fhir/Person/{person_id}": "tests/web/test_empi_api.py",
    "/fhir/$export": "test_bulk",
    "/fhir/Patient/$export": "test_bulk",
    "/fhir/Group/{gid}/$export": "test_bulk",
    "/fhir/$import": "test_bulk",
    "/fhir/$bulk-status/{job_id}": "test_bulk",
    "/fhir/$bulk-file/{job_id}/{name}": "tests/web/test_bulk.py",
    "/fhir/metadata": "tests/web/test_fhir_api.py::test_metadata_and_openapi_are_public",
    "/fhir": "test_writing",
    "/fhir/{rtype}/{rid}/_history/{vid}": "test_reading_a_record",
    "/fhir/{rtype}/_history": "test_searching",
    "/fhir/{rtype}/{rid}/_history": "test_reading_a_record",
    "/fhir/Patient/{rid}/$everything": "test_reading_a_record",
    "/fhir/{rtype}/{rid}": "test_reading_a_record, test_writing",
    "/fhir/{rtype}": "test_searching, test_writing",
    "/fhir/{rtype}/_search": "tests/web/test_fhir_api.py",
}


def test_every_route_is_in_the_matrix(api: Api) -> None:
    paths = set(api.client.app.openapi()["paths"])  # type: ignore[attr-defined]
    assert paths == set(COVERED), (paths - set(COVERED), set(COVERED) - paths)

"""Finding 1: a facility cannot write as another. The caller's facility owns what it submits
through `$import`, a Bundle or a plain create; `meta.source` naming another facility is refused
with its reason (quarantined on import), and a reference to another facility's Patient reads as
missing, exactly like one that does not exist."""

from __future__ import annotations

from datetime import date

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.standards import idcard
from phip.store.models import Quarantine, Resource
from tests.web.conftest import F1, F2, Api
from tests.web.test_bulk import _ndjson, _wait

RESIDENT_ID = "https://phip.health/fhir/sid/resident-id"


def _patient(pid: str, source: str | None = None, seq: int = 5) -> dict:  # type: ignore[type-arg]
    res: dict = {  # type: ignore[type-arg]
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": RESIDENT_ID, "value": idcard.make("620102", date(1971, 5, 6), seq, True)}],
        "name": [{"text": "钱进"}],
        "gender": "male",
        "birthDate": "1971-05-06",
    }
    if source:
        res["meta"] = {"source": f"urn:phip:submission:{source}:2026-11"}
    return res


def _owners(api: Api) -> dict[str, str | None]:
    with Session(api.client.app.state.engine) as s:  # type: ignore[attr-defined]
        return dict(s.execute(select(Resource.res_id, Resource.facility)).all())


def test_import_cannot_claim_another_facility(api: Api) -> None:
    body = _ndjson(_patient("own-1"), _patient("own-2", F1, 7), _patient("spoof-1", F2, 9))
    r = api.client.post(
        "/fhir/$import", content=body, headers={**api.h("f1-his"), "Content-Type": "application/fhir+ndjson"}
    )
    assert r.status_code == 202, r.text
    summary = _wait(api, "f1-his", r.headers["content-location"])["summary"]
    assert (summary["submitted"], summary["accepted"], summary["quarantined"]) == (3, 2, 1)
    owners = _owners(api)
    assert owners["own-1"] == F1 and owners["own-2"] == F1
    assert "spoof-1" not in owners and F2 not in owners.values()
    with Session(api.client.app.state.engine) as s:  # type: ignore[attr-defined]
        q = s.execute(select(Quarantine.res_id, Quarantine.facility, Quarantine.reasons)).all()
    assert [(rid, fac) for rid, fac, _ in q] == [("spoof-1", F1)]  # kept, charged to the caller
    assert "owner:source-mismatch" in q[0][2]


def test_rest_and_bundle_writes_are_the_callers(api: Api) -> None:
    h = {**api.h("f1-his"), "Content-Type": "application/fhir+json"}
    spoof = _patient("x", F2)
    r = api.client.post("/fhir/Patient", content=orjson.dumps(spoof), headers=h)
    assert r.status_code == 422 and "owner:source-mismatch" in r.text
    r = api.client.post("/fhir/Patient", content=orjson.dumps(_patient("y", F1, 11)), headers=h)
    assert r.status_code == 201, r.text
    assert _owners(api)[r.json()["id"]] == F1
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": _patient("b1", F2, 13), "request": {"method": "PUT", "url": "Patient/b1"}}],
    }
    r = api.client.post("/fhir", content=orjson.dumps(bundle), headers=h)
    assert r.status_code == 422 and "owner:source-mismatch" in r.text
    assert "b1" not in _owners(api)


def test_reference_to_another_facilitys_patient_reads_as_missing(api: Api) -> None:
    h2 = {**api.h("f2-his"), "Content-Type": "application/fhir+json"}
    r = api.client.put("/fhir/Patient/theirs", content=orjson.dumps(_patient("theirs", None, 15)), headers=h2)
    assert r.status_code == 201, r.text
    h1 = {**api.h("f1-his"), "Content-Type": "application/fhir+json"}

    def encounter(ref: str) -> dict:  # type: ignore[type-arg]
        return {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": ref},
            "period": {"start": "2026-11-02T09:00:00+08:00"},
        }

    existing = api.client.post(
        "/fhir/Encounter", content=orjson.dumps(encounter("Patient/theirs")), headers=h1
    )
    missing = api.client.post(
        "/fhir/Encounter", content=orjson.dumps(encounter("Patient/nobody")), headers=h1
    )
    assert existing.status_code == missing.status_code == 422
    text = lambda r: r.json()["issue"][0]["details"]["text"].split("/")[0]  # noqa: E731
    assert text(existing) == text(missing)
    # the owner itself resolves it
    assert (
        api.client.post(
            "/fhir/Encounter", content=orjson.dumps(encounter("Patient/theirs")), headers=h2
        ).status_code
        == 201
    )

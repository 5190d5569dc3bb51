"""Finding 3: holding a Patient record is no care relationship. Only evidence opens another
facility's records: a referral or consult request to the facility written by another one, the
resident's consent recorded by someone else, a visit at the facility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from phip.security.care import ground
from tests.web.conftest import F1, F2, Api

FHIR = {"Content-Type": "application/fhir+json"}
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _put(api: Api, who: str, res: dict) -> None:  # type: ignore[type-arg]
    r = api.client.put(
        f"/fhir/{res['resourceType']}/{res['id']}", content=orjson.dumps(res), headers={**api.h(who), **FHIR}
    )
    assert r.status_code in (200, 201), r.text


def _org(api: Api, who: str, code: str) -> None:
    _put(api, who, {"resourceType": "Organization", "id": code, "name": code, "active": True})


def _patient(pid: str) -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"text": "孙兰"}],
        "gender": "female",
        "birthDate": "1960-02-03",
    }


def _encounter(eid: str, pid: str, start: datetime) -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": start.isoformat()},
    }


def _ground(api: Api, own: list[str], every: list[str], now: datetime = NOW):  # type: ignore[no-untyped-def]
    with Session(api.client.app.state.engine) as s:  # type: ignore[attr-defined]
        return ground(s, F1, own, every, now)


def test_a_patient_record_alone_is_no_ground(api: Api) -> None:
    _put(api, "f2-his", _patient("real"))  # the resident's record at F2
    _put(api, "f1-his", _patient("copy"))  # F1 creates one with the same identity
    assert _ground(api, ["copy"], ["copy", "real"]) is None


def test_grounds_from_evidence(api: Api) -> None:
    _put(api, "f2-his", _patient("real"))
    _put(api, "f1-his", _patient("mine"))
    _org(api, "f2-his", F1)
    # a visit at F1 grounds it, but not one in the future or long ago
    _put(api, "f1-his", _encounter("future", "mine", NOW + timedelta(days=2)))
    _put(api, "f1-his", _encounter("ancient", "mine", NOW - timedelta(days=4000)))
    assert _ground(api, ["mine"], ["mine", "real"]) is None
    _put(api, "f1-his", _encounter("visit", "mine", NOW - timedelta(days=30)))
    g = _ground(api, ["mine"], ["mine", "real"])
    assert g is not None and (g.kind, g.record) == ("visit", "Encounter/visit")
    # a visit at another facility is not F1's
    _put(api, "f2-his", _encounter("theirs", "real", NOW - timedelta(days=3)))
    assert _ground(api, [], ["real"]) is None


def test_referral_and_consent_must_come_from_someone_else(api: Api) -> None:
    _put(api, "f2-his", _patient("real"))
    _put(api, "f1-his", _patient("mine"))
    _org(api, "f1-his", F1)
    referral = {
        "resourceType": "ServiceRequest",
        "id": "ref-self",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/mine"},
        "performer": [{"reference": f"Organization/{F1}"}],
    }
    _put(api, "f1-his", referral)  # a self-referral is no evidence
    assert _ground(api, ["mine"], ["mine", "real"]) is None
    _put(api, "f2-his", {**referral, "id": "ref-1", "subject": {"reference": "Patient/real"}})
    g = _ground(api, ["mine"], ["mine", "real"])
    assert g is not None and g.kind == "referral" and g.record == "ServiceRequest/ref-1"
    _put(
        api,
        "f2-his",
        {**referral, "id": "ref-1", "status": "revoked", "subject": {"reference": "Patient/real"}},
    )
    assert _ground(api, ["mine"], ["mine", "real"]) is None
    consent = {
        "resourceType": "Consent",
        "id": "c1",
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/real"},
        "provision": {
            "type": "permit",
            "period": {"end": (NOW + timedelta(days=90)).isoformat()},
            "actor": [{"role": {"text": "care"}, "reference": {"reference": f"Organization/{F1}"}}],
        },
    }
    _put(api, "f2-his", consent)
    g = _ground(api, ["mine"], ["mine", "real"])
    assert g is not None and g.kind == "consent"
    assert _ground(api, ["mine"], ["mine", "real"], NOW + timedelta(days=91)) is None  # expired
    _ = F2

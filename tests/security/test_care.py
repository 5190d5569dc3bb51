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


def test_the_attack_end_to_end_in_the_console(
    api: Api,
    empi_model: tuple[dict, dict],  # type: ignore[type-arg]
) -> None:
    """The finding as the attacker ran it: a clinician registers a copy of another facility's
    resident (real-time linking joins it to the person) and opens the record view. Nothing of
    the other facility shows, nor whether it holds anything; a visit the clinician types in
    themselves changes nothing; a visit the facility's own system registered opens the view,
    and every record shown is audited with its ground."""
    from datetime import date

    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from phip.identity.models import PersonRecordRow
    from phip.identity.store_link import link_store
    from phip.security.models import AuditEntry
    from phip.standards import idcard
    from tests.console.conftest import post_login
    from tests.web.conftest import PASSWORD, install_model

    num = idcard.make("620502", date(1960, 2, 3), 11, False)
    real = {
        **_patient("real"),
        "identifier": [{"system": "https://phip.health/fhir/sid/resident-id", "value": num}],
    }
    _put(api, "f2-his", real)
    _put(api, "f2-his", _encounter("secret-visit", "real", datetime.now(UTC) - timedelta(days=9)))
    install_model(api, empi_model)
    with Session(api.client.app.state.engine) as s:  # type: ignore[attr-defined]
        link_store(s, api.settings.var_dir, retrain=False)
    _put(api, "doc1", {**real, "id": "copy"})  # the clinician's copy, linked at once
    with Session(api.client.app.state.engine) as s:  # type: ignore[attr-defined]
        person = dict(s.execute(select(PersonRecordRow.record_id, PersonRecordRow.person_id)).all())
    assert person["Patient/copy"] == person["Patient/real"]

    browser = TestClient(api.client.app, follow_redirects=False)
    assert post_login(browser, {"username": "doc1", "password": PASSWORD, "next": "/"}).status_code == 303
    lone = browser.get("/records/patient/copy")
    theirs = "天水某卫生院"  # F2's name: its records show under it
    assert lone.status_code == 200 and theirs not in lone.text and F2 not in lone.text
    assert 'id="withheld"' in lone.text  # the same notice as for a resident with nothing elsewhere
    _put(api, "doc1", {**_patient("nobody-else"), "id": "alone"})
    alone = browser.get("/records/patient/alone")
    notice = lambda page: page.text[page.text.index('id="withheld"') :].split("</p>")[0]  # noqa: E731
    assert notice(alone) == notice(lone)

    _put(api, "doc1", _encounter("typed-in", "copy", datetime.now(UTC) - timedelta(days=1)))
    still = browser.get("/records/patient/copy")
    assert theirs not in still.text  # a visit the viewer recorded is no evidence

    _put(api, "f1-his", _encounter("registered", "copy", datetime.now(UTC) - timedelta(hours=2)))
    opened = browser.get("/records/patient/copy")
    assert opened.status_code == 200 and theirs in opened.text
    with Session(api.client.app.state.engine) as s:  # type: ignore[attr-defined]
        reasons = {
            e.target: e.reason
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.actor == "staff:doc1", AuditEntry.action == "read")
            )
        }
    assert reasons["Patient/real"] == "record view; care: visit Encounter/registered"

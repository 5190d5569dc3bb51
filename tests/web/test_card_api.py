"""POST /api/card/verify and GET /api/card/qr.svg: who may, and what each caller sees."""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.identity import card
from phip.identity.models import CardUsage, PersonRecordRow
from phip.store import get_engine
from tests.web.conftest import F1, F2, Api
from tests.web.test_fhir_api import patient, put


def _person_with_card(api: Api) -> str:
    """pat-1 (recorded at F1) is person P1; returns a fresh code of P1's card."""
    assert put(api, "f1-his", patient("pat-1")).status_code == 201
    with Session(get_engine(api.settings.database_url)) as s:
        s.add(
            PersonRecordRow(
                record_id="Patient/pat-1", person_id="P1", features=b"-", updated_at=datetime.now(UTC)
            )
        )
        c = card.issue_card(s, "P1")
        s.commit()
        return card.issue_token(c.card_id)


def _verify(api: Api, who: str, token: str, scene: str = "registration"):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/api/card/verify", json={"token": token, "scene": scene, "channel": "counter"}, headers=api.h(who)
    )


def test_facility_verifies_and_sees_only_its_records(api: Api) -> None:
    token = _person_with_card(api)
    r = _verify(api, "f1-his", token)
    assert r.status_code == 200, r.text
    assert r.json()["person"] == "P1" and r.json()["patients"] == ["Patient/pat-1"]
    assert _verify(api, "f1-his", token, scene="pharmacy").status_code == 200  # same facility, later scene
    # another facility: the same photographed code is a replay; a fresh code shows no F1 records
    assert _verify(api, "f2-his", token).json()["issue"][0]["code"] == "replayed"
    with Session(get_engine(api.settings.database_url)) as s:
        fresh = card.issue_token(card.active_card(s, "P1").card_id)  # type: ignore[union-attr]
    r2 = _verify(api, "f2-his", fresh)
    assert r2.status_code == 200 and r2.json()["patients"] == []
    with Session(get_engine(api.settings.database_url)) as s:
        outcomes = dict(s.execute(select(CardUsage.outcome, func.count()).group_by(CardUsage.outcome)).all())
    assert outcomes == {"ok": 3, "replayed": 1}


def test_bad_codes_and_bad_requests(api: Api) -> None:
    _person_with_card(api)
    assert _verify(api, "f1-his", "PHIP1AAAA").json()["issue"][0]["code"] == "forged"
    assert _verify(api, "f1-his", card.issue_token("00" * 8)).status_code == 410  # no such card
    r = api.client.post(
        "/api/card/verify",
        json={"token": "x", "scene": "dance", "channel": "counter"},
        headers=api.h("f1-his"),
    )
    assert r.status_code == 400


def test_access_denied(api: Api) -> None:
    token = _person_with_card(api)
    assert _verify(api, "anonymous", token).status_code == 401
    for who in ("prov", "lz-county", "stat", "auditor", "resident1"):
        assert _verify(api, who, token).status_code == 403, who
    for who in ("f1-his", "doc1", "prov"):
        assert api.client.get("/api/card/qr.svg", headers=api.h(who)).status_code == 403
    assert api.client.get("/api/card/qr.svg").status_code == 401


def test_resident_gets_a_qr_code(api: Api) -> None:
    _person_with_card(api)
    r = api.client.get("/api/card/qr.svg", headers=api.h("resident1"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in r.text


def test_card_use_figures_within_scope(api: Api) -> None:
    token = _person_with_card(api)
    assert _verify(api, "f1-his", token).status_code == 200
    assert _verify(api, "f1-his", token, scene="pharmacy").status_code == 200
    assert _verify(api, "f2-his", token).status_code == 400  # replayed at another facility
    prov = api.client.get("/api/card/usage", headers=api.h("prov"))
    assert prov.status_code == 200, prov.text
    rows = {(r["facility"], r["scene"], r["outcome"]): r["scans"] for r in prov.json()["rows"]}
    assert rows == {
        (F1, "registration", "ok"): 1,
        (F1, "pharmacy", "ok"): 1,
        (F2, "registration", "replayed"): 1,
    }
    lz = api.client.get("/api/card/usage", headers=api.h("lz-county")).json()["rows"]
    assert {r["facility"] for r in lz} == {F1}
    assert {
        r["facility"] for r in api.client.get("/api/card/usage", headers=api.h("ts-county")).json()["rows"]
    } == {F2}
    later = api.client.get("/api/card/usage", params={"since": "2099-01-01T00:00:00Z"}, headers=api.h("prov"))
    assert later.json()["rows"] == []
    for who in ("doc1", "f1-his", "resident1", "auditor"):
        assert api.client.get("/api/card/usage", headers=api.h(who)).status_code == 403
    assert api.client.get("/api/card/usage", headers=api.h("anonymous")).status_code == 401

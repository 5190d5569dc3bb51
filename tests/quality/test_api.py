"""`/api/quality`: scorecards, reports and acknowledgements within the caller's scope, and the
access-denied cases for every path."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.orgunits.models import Facility
from phip.quality.models import QualityFinding
from phip.quality.service import run_round
from phip.security.accounts import add_client, add_staff
from phip.settings import Settings
from phip.store import get_engine
from phip.web.app import create_app
from tests.quality.conftest import QualityStore

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def api(quality_store: QualityStore) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(
        database_url=quality_store.db_url,
        secret_key="test-secret-quality-for-signing-tokens-only",
        demo=False,
        data_key="0123456789abcdef" * 2,
        var_dir=quality_store.var_dir,
        lake_dir=quality_store.lake,
    )
    with Session(get_engine(quality_store.db_url)) as s:
        run_round(s, quality_store.lake)
        # a facility with findings, and one in another county
        fac = s.scalar(select(QualityFinding.facility).where(QualityFinding.facility.is_not(None)).limit(1))
        assert fac
        mine = s.get(Facility, fac)
        assert mine is not None
        other = s.scalar(select(Facility.code).where(Facility.county_code != mine.county_code).limit(1))
        users = {
            "prov": ("province_admin", "620000", None),
            "county": ("county_admin", mine.county_code, None),
            "far": ("county_admin", s.get(Facility, other).county_code, None),  # type: ignore[union-attr]
            "stat": ("statistician", "620000", None),
            "fadmin": ("facility_admin", None, fac),
            "doc": ("clinician", None, fac),
            "auditor": ("auditor", "620000", None),
            "ph": ("public_health", "620000", None),
        }
        for name, (role, unit, f) in users.items():
            add_staff(s, f"q-{name}", PASSWORD, role, org_unit=unit, facility=f)
        add_client(s, "q-client", PASSWORD, fac)
        s.commit()
    client = TestClient(create_app(settings))
    tokens = {"facility": fac, "other": str(other)}
    for name in users:
        r = client.post("/api/auth/login", json={"username": f"q-{name}", "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[name] = r.json()["access_token"]
    r = client.post("/api/auth/token", json={"client_id": "q-client", "client_secret": PASSWORD})
    assert r.status_code == 200, r.text
    tokens["client"] = r.json()["access_token"]
    yield client, tokens


def _h(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def test_scorecard_league_table_within_scope(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    prov = client.get("/api/quality/scorecard", params={"level": "county"}, headers=_h(tokens, "prov")).json()
    county = client.get(
        "/api/quality/scorecard", params={"level": "county"}, headers=_h(tokens, "county")
    ).json()
    assert len(prov["rows"]) >= 2 and len(county["rows"]) == 1
    scores = [r["score"] for r in prov["rows"]]
    assert scores == sorted(scores) and prov["rows"][0]["rank"] == 1
    facs = client.get(
        "/api/quality/scorecard", params={"level": "facility"}, headers=_h(tokens, "fadmin")
    ).json()
    assert [r["unit"] for r in facs["rows"]] == [tokens["facility"]]
    trend = client.get(
        "/api/quality/scorecard",
        params={"level": "facility", "unit": tokens["facility"]},
        headers=_h(tokens, "fadmin"),
    ).json()
    assert trend["trend"] and trend["trend"][-1]["score"] == facs["rows"][0]["score"]
    bad = client.get("/api/quality/scorecard", params={"level": "galaxy"}, headers=_h(tokens, "prov"))
    assert bad.status_code == 400
    outside = client.get(
        "/api/quality/scorecard",
        params={"level": "facility", "unit": tokens["other"]},
        headers=_h(tokens, "fadmin"),
    )
    assert outside.status_code == 403


def test_facility_report_as_fhir_csv_and_excel(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    fac = tokens["facility"]
    for who in ("fadmin", "client", "county", "prov", "stat"):
        r = client.get("/api/quality/report", params={"facility": fac}, headers=_h(tokens, who))
        assert r.status_code == 200, (who, r.text)
        assert r.headers["content-type"].startswith("application/fhir+json")
        body = r.json()
        assert body["resourceType"] == "Bundle" and body["entry"]
        assert body["entry"][0]["resource"]["resourceType"] == "OperationOutcome"
    c = client.get(
        "/api/quality/report",
        params={"facility": fac, "format": "csv", "lang": "en"},
        headers=_h(tokens, "fadmin"),
    )
    rows = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert rows[0][1] == "rule" and len(rows) - 1 == sum(len(e["resource"]["issue"]) for e in body["entry"])
    x = client.get(
        "/api/quality/report", params={"facility": fac, "format": "xlsx"}, headers=_h(tokens, "fadmin")
    )
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet.max_row == len(rows)
    assert (
        client.get(
            "/api/quality/report", params={"facility": fac, "format": "pdf"}, headers=_h(tokens, "fadmin")
        ).status_code
        == 400
    )


def test_acknowledge_and_summary(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    fac = tokens["facility"]
    report = client.get("/api/quality/report", params={"facility": fac}, headers=_h(tokens, "fadmin")).json()
    first = int(report["entry"][0]["resource"]["id"].removeprefix("qf-"))
    r = client.post(
        "/api/quality/acknowledge", json={"facility": fac, "ids": [first]}, headers=_h(tokens, "fadmin")
    )
    assert r.status_code == 200 and r.json() == {"acknowledged": 1}
    again = client.get("/api/quality/report", params={"facility": fac}, headers=_h(tokens, "client")).json()
    status = {
        e["resource"]["id"]: e["resource"]["issue"][0]["extension"][0]["valueCode"] for e in again["entry"]
    }
    assert status[f"qf-{first}"] == "acknowledged"
    # acknowledged already: the lifecycle allows no second acknowledgement, and says what it allows
    twice = client.post(
        "/api/quality/acknowledge", json={"facility": fac, "ids": [first]}, headers=_h(tokens, "fadmin")
    )
    assert twice.status_code == 409 and twice.json()["resourceType"] == "OperationOutcome"
    assert [i["details"]["text"] for i in twice.json()["issue"][1:]] == ["correct", "verify"]
    mine = client.get("/api/quality/summary", headers=_h(tokens, "client")).json()
    assert mine["round"] and mine["findings"]["open"] > 0
    province = client.get("/api/quality/summary", headers=_h(tokens, "prov")).json()
    assert province["findings"]["open"] >= mine["findings"]["open"]


def test_facility_metrics_within_scope(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    fac = tokens["facility"]
    everyone = client.get("/api/quality/metrics", headers=_h(tokens, "prov")).json()["rows"]
    mine = client.get("/api/quality/metrics", headers=_h(tokens, "fadmin")).json()["rows"]
    county = client.get("/api/quality/metrics", headers=_h(tokens, "county")).json()["rows"]
    assert mine and {r["facility"] for r in mine} == {fac}
    assert len(mine) <= len(county) < len(everyone)
    assert {"reporting_completeness", "reporting_timeliness"} <= {r["metric"] for r in mine}
    flagged = client.get("/api/quality/metrics", params={"flagged": True}, headers=_h(tokens, "prov")).json()
    assert all(r["flagged"] for r in flagged["rows"])
    r = client.get("/api/quality/metrics", params={"facility": tokens["other"]}, headers=_h(tokens, "fadmin"))
    assert r.status_code == 403


def test_access_denied(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    fac, other = tokens["facility"], tokens["other"]
    paths = [
        ("get", "/api/quality/rules", {}),
        ("get", "/api/quality/scorecard", {}),
        ("get", f"/api/quality/report?facility={fac}", {}),
        ("get", f"/api/quality/summary?facility={fac}", {}),
        ("get", "/api/quality/metrics", {}),
        ("post", "/api/quality/acknowledge", {"json": {"facility": fac, "ids": [1]}}),
    ]
    for method, path, kw in paths:
        assert getattr(client, method)(path, **kw).status_code == 401, path
        forged = {"Authorization": "Bearer forged"}
        assert getattr(client, method)(path, headers=forged, **kw).status_code == 401, path
        for who in ("doc", "auditor", "ph"):
            assert getattr(client, method)(path, headers=_h(tokens, who), **kw).status_code == 403, (
                path,
                who,
            )
    # another county's administrator, and another facility, may not read this facility's report
    for who in ("far",):
        r = client.get("/api/quality/report", params={"facility": fac}, headers=_h(tokens, who))
        assert r.status_code == 403
    r = client.get("/api/quality/report", params={"facility": other}, headers=_h(tokens, "fadmin"))
    assert r.status_code == 403
    # administrators read, only the facility acknowledges, and only its own findings
    r = client.post(
        "/api/quality/acknowledge", json={"facility": fac, "ids": [1]}, headers=_h(tokens, "prov")
    )
    assert r.status_code == 403
    r = client.post(
        "/api/quality/acknowledge", json={"facility": other, "ids": [1]}, headers=_h(tokens, "fadmin")
    )
    assert r.status_code == 403
    rules = client.get("/api/quality/rules", headers=_h(tokens, "stat")).json()["rules"]
    assert len(rules) >= 25 and {"zh", "en"} <= set(rules[0]["hint"])

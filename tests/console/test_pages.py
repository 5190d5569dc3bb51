"""The console over HTTP (in-process): logins, every page for every role (the access-denied case
included), data scope on maps, tables and boards, exports, decisions, the record view, the
language switch and the anti-forgery header."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.analytics import results
from phip.identity.models import PersonEvent, PersonRecordRow, PersonRow, ReviewItem
from phip.orgunits import geo
from phip.orgunits.models import Facility, OrgUnit
from phip.security.accounts import add_staff
from phip.security.models import AuditEntry
from phip.store import get_engine
from phip.store.models import SubmissionBatch
from phip.web.deps import csrf_token
from tests.conftest import LakeStore
from tests.console.conftest import PASSWORD, USERS, Console, post_login

PAGES = {
    "/": {"prov", "pref", "county", "far", "stat", "ph", "fadmin"},
    "/explorer": {"prov", "pref", "county", "far", "stat", "ph", "fadmin"},
    "/connection": {"prov", "pref", "county", "far", "stat"},
    "/reporting": {"prov", "pref", "county", "far", "stat", "fadmin"},
    "/quality": {"prov", "pref", "county", "far", "stat", "fadmin"},
    "/identity": {"prov", "pref", "county", "far", "fadmin"},
    "/records": {"doc"},
}


def _denied_entries(con: Console, actor: str) -> int:
    with Session(get_engine(con.db_url)) as s:
        return len(
            s.scalars(
                select(AuditEntry).where(AuditEntry.actor == f"staff:{actor}", AuditEntry.outcome == "denied")
            ).all()
        )


def _csrf(con: Console, user: str) -> dict[str, str]:
    token = con.client(user).cookies.get("phip_session")
    assert token
    return {"X-CSRF-Token": csrf_token(token, con.settings.secret_key)}


def test_login_is_required_and_checked(console: Console) -> None:
    anon = console.client(None)
    for path in [*PAGES, "/quality/unit/620000?level=province", f"/records/patient/{console.patient}"]:
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    for path in (
        "/console/data/map?indicator=ehr_filing_rate",
        "/console/data/trend?indicator=ehr_filing_rate",
    ):
        assert anon.get(path).status_code == 401
    r = post_login(anon, {"username": "prov", "password": "wrong", "next": "/"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert "phip_session" not in r.cookies
    # only same-site paths are followed after login
    r = post_login(anon, {"username": "prov", "password": "x", "next": "https://elsewhere.example/"})
    assert 'value="/"' in r.text


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_allows_its_roles_and_denies_the_others(console: Console, path: str) -> None:
    for user, (role, _, _) in USERS.items():
        r = console.client(user).get(path)
        if user in PAGES[path]:
            assert r.status_code == 200, (user, path, r.text[:300])
            assert f'data-role="{role}"' in r.text
        elif path == "/" and user == "doc":
            assert r.status_code == 303 and r.headers["location"] == "/records"
        else:
            before = _denied_entries(console, user)
            r = console.client(user).get(path)
            assert r.status_code == 403, (user, path)
            assert "无权访问" in r.text
            assert _denied_entries(console, user) == before + 1


def _regions(parent: str) -> set[str]:
    return {f["properties"]["code"] for f in geo.regions("620000", parent)["features"]}


def test_map_shows_the_callers_area_and_drills_down(console: Console) -> None:
    prov = console.client("prov")
    data = prov.get("/console/data/map", params={"indicator": "ehr_filing_rate"}).json()
    codes = {f["properties"]["code"] for f in data["regions"]["features"]}
    assert len(codes) == 14 and console.prefecture in codes
    assert data["drill"] and data["period"] in data["periods"]
    expected = results.query(
        console.lake,
        results.Filter(
            "ehr_filing_rate", "prefecture", None, "620000", data["period_type"], data["period"], ""
        ),
    )
    assert {v["code"]: v["value"] for v in data["values"]} == {r["org_unit"]: r["value"] for r in expected}
    assert any(v["value"] is not None for v in data["values"])
    # drill into the prefecture: its counties
    data = prov.get(
        "/console/data/map", params={"indicator": "outpatient_visits", "unit": console.prefecture}
    ).json()
    assert {f["properties"]["code"] for f in data["regions"]["features"]} == _regions(console.prefecture)
    assert console.county in {v["code"] for v in data["values"]}
    # a county administrator: one region, their own, and nothing above it
    county = console.client("county")
    data = county.get("/console/data/map", params={"indicator": "outpatient_visits"}).json()
    assert [f["properties"]["code"] for f in data["regions"]["features"]] == [console.county]
    assert {v["code"] for v in data["values"]} <= {console.county} and not data["drill"]
    page = county.get("/")
    assert page.status_code == 200 and f'data-unit="{console.county}"' in page.text
    for path in (f"/?unit={console.far_county}", f"/?unit={console.prefecture}", "/?unit=620000"):
        assert county.get(path).status_code == 403, path
    r = county.get("/console/data/map", params={"indicator": "outpatient_visits", "unit": console.far_county})
    assert r.status_code == 403
    trend = county.get("/console/data/trend", params={"indicator": "outpatient_visits"}).json()
    assert trend["points"] and trend["period_type"] == "month"
    assert (
        county.get("/console/data/trend", params={"indicator": "x", "unit": console.far_county}).status_code
        == 403
    )


def test_key_figures_count_within_scope(console: Console) -> None:
    with Session(get_engine(console.db_url)) as s:
        county_path = s.get(OrgUnit, console.county).path  # type: ignore[union-attr]
        in_county = s.scalars(select(Facility).where(Facility.path.startswith(county_path))).all()
        everywhere = s.scalars(select(Facility)).all()
    page = console.client("county").get("/").text
    shown = re.findall(r'<span class="big">(\d[\d,]*) / (\d[\d,]*)</span>', page)
    assert sum(int(t.replace(",", "")) for _, t in shown) == len(in_county)
    page = console.client("prov").get("/").text
    shown = re.findall(r'<span class="big">(\d[\d,]*) / (\d[\d,]*)</span>', page)
    assert sum(int(t.replace(",", "")) for _, t in shown) == len(everywhere)
    assert sum(int(c.replace(",", "")) for c, _ in shown) == sum(f.connected for f in everywhere)
    # records received this month: the store's submission batches (all ingested this session)
    with Session(get_engine(console.db_url)) as s:
        batches = s.execute(select(SubmissionBatch.facility, SubmissionBatch.records)).all()
    county_codes = {f.code for f in in_county}
    for user, expected in (
        ("prov", sum(n for _, n in batches)),
        ("county", sum(n for f, n in batches if f in county_codes)),
        ("fadmin", sum(n for f, n in batches if f == console.facility)),
    ):
        page = console.client(user).get("/").text
        got = re.search(r'id="fig-records">([\d,]+)<', page)
        assert got and int(got.group(1).replace(",", "")) == expected > 0, user


def test_explorer_table_and_export_within_scope(console: Console) -> None:
    q = {"indicator": "outpatient_visits", "level": "county", "period_type": "year"}
    prov = console.client("prov")
    page = prov.get("/explorer", params=q)
    assert page.status_code == 200
    period = re.search(r'<option value="(\d{4})" selected>', page.text)
    assert period
    expected = results.query(
        console.lake, results.Filter("outpatient_visits", "county", None, None, "year", period.group(1), "")
    )
    assert sorted(re.findall(r'<tr data-unit="(\d+)">', page.text)) == sorted(r["org_unit"] for r in expected)
    # the HTMX fragment redraws the form and the table
    frag = prov.get("/explorer/table", params={**q, "breakdown": "sex"})
    assert frag.status_code == 200 and "<html" not in frag.text and 'id="explorer-table"' in frag.text
    assert "<td>女</td>" in frag.text and "<td>female</td>" not in frag.text  # categories in words
    frag = prov.get("/explorer/table", params={**q, "breakdown": "facility_type", "lang": "en"})
    assert "<td>Hospitals</td>" in frag.text
    # export through the API with the console session
    link = re.search(r'id="export-csv" href="([^"]+)"', page.text)
    assert link
    r = prov.get(link.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    # a file for people: the page's language in headers and levels
    assert {row["区划/机构编码"] for row in rows} == {r["org_unit"] for r in expected}
    assert {row["层级"] for row in rows} == {"县区"}
    # a county administrator: townships of their county only, in the page and in the export
    # (a county whose townships have values: the province's residents live in a few townships)
    towns = results.query(console.lake, results.Filter(level="township", period_type="year"))
    assert towns
    code = towns[0]["org_unit"][:6]
    with Session(get_engine(console.db_url)) as s:
        add_staff(s, "county-with-towns", PASSWORD, "county_admin", org_unit=code)
        s.commit()
    towns_admin = TestClient(console.app, follow_redirects=False)
    login = post_login(towns_admin, {"username": "county-with-towns", "password": PASSWORD, "next": "/"})
    assert login.status_code == 303
    page = towns_admin.get(
        "/explorer", params={"indicator": towns[0]["indicator"], "level": "township", "period_type": "year"}
    )
    towns_admin.close()
    units = re.findall(r'<tr data-unit="(\d+)">', page.text)
    assert units and all(u.startswith(code) for u in units)
    assert 'value="prefecture"' not in page.text  # levels above theirs are not offered
    county = console.client("county")
    r = county.get("/api/indicators", params={**q, "level": "county", "format": "csv"})
    assert {row["org_unit"] for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))} == {
        console.county
    }
    assert console.client("doc").get("/explorer/table", params=q).status_code == 403
    assert console.client("doc").get("/api/indicators", params={**q, "format": "csv"}).status_code == 403


def test_explorer_marks_cells_whose_reports_are_incomplete(console: Console) -> None:
    """A cell resting on missing reports or a running period says so, instead of a bare number."""
    prov = console.client("prov")
    q = {"indicator": "outpatient_visits", "level": "prefecture", "period_type": "year", "period": "2025"}
    year = prov.get("/explorer/table", params=q).text
    marks = re.findall(r'data-complete="(true|false)">([^<]*)</td>', year)
    assert marks and all(re.search(r"\d+ / \d+", text) for _flag, text in marks)
    # the province has facilities that went silent: some prefecture's year is incomplete
    assert any(flag == "false" and "数据不完整" in text for flag, text in marks)
    # judged in the middle of the data's year, the year is not over
    kept = console.settings.as_of
    console.settings.as_of = date(2025, 7, 1)
    try:
        running = prov.get("/explorer/table", params=q).text
        assert "期间未结束" in running and 'data-complete="true"' not in running
        # and a page opens on the last quarter that has ended by then
        page = prov.get("/explorer", params={"indicator": "outpatient_visits", "period_type": "quarter"}).text
        assert '<option value="2025Q2" selected>' in page
    finally:
        console.settings.as_of = kept
    assert (
        prov.get("/explorer/table", params={"indicator": "outpatient_visits", "lang": "en"}).status_code
        == 200
    )


def test_connection_board_within_scope(console: Console) -> None:
    with Session(get_engine(console.db_url)) as s:
        all_codes = set(s.scalars(select(Facility.code)))
        county_codes = set(s.scalars(select(Facility.code).where(Facility.county_code == console.county)))
    page = console.client("prov").get("/connection").text
    assert set(re.findall(r'<tr data-facility="([^"]+)">', page)) == all_codes
    page = console.client("county").get("/connection").text
    listed = set(re.findall(r'<tr data-facility="([^"]+)">', page))
    assert listed == county_codes and console.facility in listed
    assert set(re.findall(r'<tr data-county="(\d+)">', page)) == {console.county}
    row = re.search(rf'<tr data-facility="{console.facility}">(.*?)</tr>', page, re.S)
    assert row and "从未上报" not in row.group(1)  # it submitted: a date is shown
    # the facility's own send time (its 2025 data came in by January 2026), not the day the
    # test loaded it; and its reporting over the last twelve months due: received / owed
    today = date.today()
    assert f"{today.year}年{today.month}月{today.day}日" not in row.group(1)
    assert re.search(r"20(25|26)年\d+月\d+日", row.group(1))
    assert re.search(r'<td class="num[^"]*">\d+ / \d+</td>', row.group(1))
    assert "数据上报率" in page
    assert console.client("ph").get("/connection").status_code == 403


def test_quality_scorecards_and_facility_report(console: Console) -> None:
    county = console.client("county")
    page = county.get("/quality", params={"level": "facility"})
    units = set(re.findall(r'<tr data-unit="([^"]+)">', page.text))
    with Session(get_engine(console.db_url)) as s:
        mine = set(s.scalars(select(Facility.code).where(Facility.county_code == console.county)))
    assert units and units <= mine
    assert (
        console.client("prov").get("/quality", params={"level": "prefecture"}).text.count("<tr data-unit=")
        >= 2
    )
    report = county.get(f"/quality/unit/{console.facility}", params={"level": "facility"})
    assert report.status_code == 200 and 'id="findings"' in report.text and "data-finding=" in report.text
    assert county.get(f"/api/quality/report?facility={console.facility}&format=csv").status_code == 200
    far = console.client("far")
    assert far.get(f"/quality/unit/{console.facility}", params={"level": "facility"}).status_code == 403
    assert far.get(f"/quality/unit/{console.county}", params={"level": "county"}).status_code == 403
    assert far.get(f"/api/quality/report?facility={console.facility}&format=csv").status_code == 403


def test_review_decision_persists_and_needs_the_anti_forgery_header(console: Console) -> None:
    county = console.client("county")
    page = county.get("/identity")
    assert f'data-item="{console.review_item}"' in page.text
    assert "*" in page.text  # an administrator sees masked values
    path = f"/identity/review/{console.review_item}"
    assert county.post(path, data={"decision": "no-match"}).status_code == 403  # no header
    far = console.client("far")
    assert f'data-item="{console.review_item}"' not in far.get("/identity").text
    # another county's item answers as a missing one would (no oracle of ids)
    assert far.post(path, data={"decision": "no-match"}, headers=_csrf(console, "far")).status_code == 404
    assert (
        console.client("doc")
        .post(path, data={"decision": "no-match"}, headers=_csrf(console, "doc"))
        .status_code
        == 403
    )
    with Session(get_engine(console.db_url)) as s:
        assert s.get(ReviewItem, console.review_item).status == "open"  # type: ignore[union-attr]
    r = county.post(path, data={"decision": "no-match"}, headers=_csrf(console, "county"))
    assert r.status_code == 200 and "data-decision=" in r.text
    with Session(get_engine(console.db_url)) as s:
        item = s.get(ReviewItem, console.review_item)
        assert item is not None and item.status == "no-match" and item.decided_by == "staff:county"
        event = s.get(PersonEvent, item.event_id)
        assert event is not None
        person = event.persons.split()[0]
    # undo it from the person's page
    page = county.get(f"/identity/person/{person}")
    assert page.status_code == 200 and f'data-decision="{event.id}"' in page.text
    undo = f"/identity/decisions/{event.id}/revert"
    assert county.post(undo, data={"person": person}).status_code == 403
    assert far.post(undo, data={"person": person}, headers=_csrf(console, "far")).status_code == 403
    r = county.post(undo, data={"person": person}, headers=_csrf(console, "county"))
    assert r.status_code == 204 and r.headers["hx-redirect"] == f"/identity/person/{person}"
    with Session(get_engine(console.db_url)) as s:
        assert s.get(PersonEvent, event.id).reverted_by is not None  # type: ignore[union-attr]
    assert far.get(f"/identity/person/{person}").status_code in (403, 404)
    # merge the pair's two persons from the person page, then undo the merge (unmerge)
    with Session(get_engine(console.db_url)) as s:
        item = s.get(ReviewItem, console.review_item)
        assert item is not None
        source = s.get(PersonRecordRow, item.record_id).person_id  # type: ignore[union-attr]
        target = s.get(PersonRecordRow, item.other_id).person_id  # type: ignore[union-attr]
    assert source and target and source != target
    body = {"source": source, "target": target, "reason": "same resident"}
    assert county.post("/identity/merge", data=body).status_code == 403
    assert far.post("/identity/merge", data=body, headers=_csrf(console, "far")).status_code == 403
    with Session(get_engine(console.db_url)) as s:
        assert s.get(PersonRow, source).status != "merged"  # type: ignore[union-attr]
    r = county.post("/identity/merge", data=body, headers=_csrf(console, "county"))
    assert r.status_code == 204 and r.headers["hx-redirect"] == f"/identity/person/{target}"
    with Session(get_engine(console.db_url)) as s:
        assert s.get(PersonRow, source).merged_into == target  # type: ignore[union-attr]
        merge_event = s.scalars(
            select(PersonEvent).where(PersonEvent.action == "merge").order_by(PersonEvent.id.desc())
        ).first()
        assert merge_event is not None
    page = county.get(f"/identity/person/{target}").text
    assert f'hx-post="/identity/decisions/{merge_event.id}/revert"' in page
    r = county.post(
        f"/identity/decisions/{merge_event.id}/revert",
        data={"person": target},
        headers=_csrf(console, "county"),
    )
    assert r.status_code == 204
    with Session(get_engine(console.db_url)) as s:
        assert s.get(PersonRow, source).status != "merged"  # type: ignore[union-attr]
        assert {
            r.person_id
            for r in s.scalars(
                select(PersonRecordRow).where(PersonRecordRow.record_id.in_([item.record_id, item.other_id]))
            )
        } == {source, target}
    # the API refuses a cookie-authenticated change without the header too
    api = f"/api/empi/review/{console.review_item}"
    assert county.post(api, json={"decision": "match"}).status_code == 403


def test_record_view_for_clinicians_is_scoped_and_audited(console: Console) -> None:
    doc = console.client("doc")
    page = doc.get(f"/records/patient/{console.patient}")
    assert page.status_code == 200 and 'id="timeline"' in page.text
    assert "data-type=" in page.text
    with Session(get_engine(console.db_url)) as s:
        views = s.scalars(
            select(AuditEntry).where(
                AuditEntry.actor == "staff:doc", AuditEntry.target == f"Patient/{console.patient}"
            )
        ).all()
        assert any(v.outcome == "ok" and "record view" in v.reason for v in views)
    r = doc.get(f"/records/patient/{console.other_patient}")
    assert r.status_code == 403
    assert console.client("county").get(f"/records/patient/{console.patient}").status_code == 403
    hits = doc.get("/records", params={"q": "a"})
    assert hits.status_code == 200


def test_language_switch_and_logout(console: Console) -> None:
    stat = console.client("stat")
    r = stat.get("/lang/en", params={"next": "/explorer"})
    assert r.status_code == 303 and r.headers["location"] == "/explorer"
    page = stat.get("/explorer")
    assert "Indicator explorer" in page.text and 'lang="en"' in page.text
    stat.get("/lang/zh-CN", params={"next": "/"})
    assert "指标查询" in stat.get("/explorer").text
    assert stat.get("/lang/en", params={"next": "//elsewhere.example/x"}).headers["location"] == "/"
    # logout needs the page's anti-forgery value; then the session is gone
    r = stat.post("/logout", data={"csrf": "wrong"})
    assert r.status_code == 303 and stat.get("/explorer").status_code == 200
    token = stat.cookies.get("phip_session")
    stat.post("/logout", data={"csrf": csrf_token(token or "", console.settings.secret_key)})
    assert stat.get("/explorer").status_code == 303
    console.clients.pop("stat")


def test_assets_are_served_locally(console: Console) -> None:
    anon = console.client(None)
    for path in ("/static/vendor/echarts.min.js", "/static/vendor/htmx.min.js", "/static/console.js"):
        r = anon.get(path)
        assert r.status_code == 200 and len(r.content) > 1000, path
    page = console.client("prov").get("/").text
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_every_console_call_denies_the_roles_it_is_not_for(console: Console) -> None:
    calls = {
        "/console/data/map?indicator=ehr_filing_rate": PAGES["/"],
        "/console/data/trend?indicator=ehr_filing_rate": PAGES["/"],
        "/explorer/table?indicator=outpatient_visits": PAGES["/explorer"],
        f"/quality/unit/{console.facility}?level=facility": {"prov", "pref", "county", "stat", "fadmin"},
        "/identity/person/P0": PAGES["/identity"],
        "/records?q=x": PAGES["/records"],
        f"/records/patient/{console.patient}": PAGES["/records"],
    }
    for path, allowed in calls.items():
        for user in USERS:
            code = console.client(user).get(path).status_code
            if user in allowed:
                assert code in (200, 404), (user, path, code)  # 404: no such person
            else:
                assert code == 403, (user, path, code)
    for path in (
        f"/identity/review/{console.review_item}",
        "/identity/merge",
        "/identity/decisions/1/revert",
    ):
        for user in ("doc", "stat", "ph", "auditor"):
            r = console.client(user).post(
                path,
                data={"decision": "match", "source": "a", "target": "b", "person": "a"},
                headers=_csrf(console, user),
            )
            assert r.status_code == 403, (user, path)


def test_reporting_rates_page(console: Console, lake_store: LakeStore) -> None:
    """Reporting completeness and timeliness for the caller's area: the year's batches owed and
    received equal the synthetic province's truth, the units below add up to it, each facility's
    months say on time, late or missing, and nothing outside the caller's area is shown."""
    with open(lake_store.province / "truth" / "expected_batches.csv", encoding="utf-8") as f:
        owed = [r for r in csv.DictReader(f) if r["month"].startswith("2025")]
    prov = console.client("prov")
    page = prov.get("/reporting", params={"period_type": "year", "period": "2025"})
    assert page.status_code == 200
    figures = re.search(r'id="reporting-summary">(.*?)</div>\s*</div>', page.text, re.S)
    assert figures
    numbers = [int(n.replace(",", "")) for n in re.findall(r'class="big">([\d,]+)<', figures.group(1))]
    received = sum(r["received"] == "1" for r in owed)
    assert numbers[:2] == [len(owed), received] and numbers[2] <= received < len(owed)
    units = re.findall(r'<tr data-unit="(\d+)">(.*?)</tr>', page.text, re.S)
    assert len(units) >= 2
    expected = [
        int(re.findall(r'<td class="num">([\d,]+)</td>', row)[0].replace(",", "")) for _u, row in units
    ]
    assert sum(expected) == len(owed)
    cells = re.findall(r'data-month="(2025-\d\d)" data-status="(\w+)"', page.text)
    statuses = {s for _m, s in cells}
    assert statuses <= {"on_time", "late", "missing", "none"} and "missing" in statuses
    truth = {(r["facility"], r["month"]): r["received"] == "1" for r in owed}
    rows = dict(re.findall(r'<tr data-facility="([^"]+)">(.*?)</tr>', page.text, re.S))
    for fac, row in rows.items():
        for month, status in re.findall(r'data-month="(2025-\d\d)" data-status="(\w+)"', row):
            if (fac, month) in truth:
                assert (status != "missing") == truth[(fac, month)], (fac, month, status)
            else:
                assert status == "none", (fac, month, status)
    assert "数据上报率" in page.text and 'data-drill="/reporting"' in page.text
    english = prov.get("/reporting", params={"period_type": "quarter", "lang": "en"}).text
    assert "Reporting rate" in english and "Batches owed" in english and "数据上报率" not in english
    # a county administrator sees its county's facilities only, and not another prefecture
    county = console.client("county")
    mine = county.get("/reporting", params={"period_type": "year"}).text
    with Session(get_engine(console.db_url)) as s:
        in_county = set(s.scalars(select(Facility.code).where(Facility.county_code == console.county)))
    assert set(re.findall(r'<tr data-facility="([^"]+)">', mine)) <= in_county
    assert county.get("/reporting", params={"unit": console.far_county}).status_code == 403
    # a facility administrator: its own facility; public health has no reporting page
    own = console.client("fadmin").get("/reporting", params={"period_type": "year"}).text
    assert set(re.findall(r'<tr data-facility="([^"]+)">', own)) == {console.facility}
    assert console.client("ph").get("/reporting").status_code == 403
    assert console.client(None).get("/reporting").status_code == 303


def test_data_quality_review_metrics_page(console: Console) -> None:
    """The WHO DQR metrics of the last round with their thresholds, within the caller's area, and
    one metric's flagged facilities; in both languages; not for roles without the quality page."""
    from phip.quality import dqr

    rows = [r for r in dqr.read(console.lake) if r["period"] == "2025"]
    prov = console.client("prov")
    page = prov.get("/quality/metrics", params={"year": "2025"}).text
    listed = re.findall(r'<tr data-metric="(\w+)">(.*?)</tr>', page, re.S)
    assert [m for m, _ in listed] == list(dqr.INFO)
    for metric, row in listed:
        mine = [r for r in rows if r["metric"] == metric]
        cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
        assert cells[1] == f"{len(mine):,}" and cells[2] == f"{sum(r['flagged'] for r in mine):,}", metric
    assert "低于90%" in page and "数据质量评估指标" in page
    # indicator values unlike their peers': the counties' 2025 values by modified z-score
    from phip.analytics.outliers import unit_outliers

    counties = results.query(console.lake, results.Filter(None, "county", None, None, "year", "2025", ""))
    want = {(r["indicator"], r["org_unit"]) for r in unit_outliers(counties)}
    got = set(re.findall(r'<tr data-indicator="(\w+)" data-unit="(\d+)">', page))
    assert 'id="unit-outliers"' in page and got == want
    flagged = [r for r in rows if r["metric"] == "reporting_completeness" and r["flagged"]]
    detail = prov.get("/quality/metrics", params={"year": "2025", "metric": "reporting_completeness"}).text
    assert set(re.findall(r'<tr data-facility="([^"]+)">', detail)) == {r["facility"] for r in flagged}
    english = prov.get("/quality/metrics", params={"lang": "en"}).text
    assert "Reporting completeness" in english and "below 90%" in english and "低于" not in english
    # a county administrator: its county's facilities only
    with Session(get_engine(console.db_url)) as s:
        in_county = set(s.scalars(select(Facility.code).where(Facility.county_code == console.county)))
    county = console.client("county").get("/quality/metrics", params={"metric": "outliers_2sd"}).text
    assert re.search(r'<tr data-metric="reporting_completeness">', county)
    assert set(re.findall(r'<tr data-facility="([^"]+)">', county)) <= in_county
    assert console.client("ph").get("/quality/metrics").status_code == 403
    assert console.client(None).get("/quality/metrics").status_code == 303


def test_a_facility_administrators_home_is_their_facility(console: Console) -> None:
    """The home of a facility administrator names the facility, its place and connection, its
    reporting, and each indicator kept per facility in the last period that has ended."""
    from phip.analytics.catalogue import catalogue

    with Session(get_engine(console.db_url)) as s:
        fac = s.get(Facility, console.facility)
        assert fac is not None
        county = s.get(OrgUnit, fac.county_code)
        name, county_name = fac.name, county.name if county else ""
    page = console.client("fadmin").get("/")
    assert page.status_code == 200
    card = re.search(r'id="facility-card" data-facility="([^"]+)">(.*?)</section>', page.text, re.S)
    assert card and card.group(1) == console.facility
    assert name in card.group(2) and county_name in card.group(2) and "已接入" in card.group(2)
    # its own reporting (not another facility's of the same org unit)
    from phip.quality import connection

    with Session(get_engine(console.db_url)) as s:
        own_status = next(
            st for st in connection.facilities(s, console.lake, None) if st.code == console.facility
        )
    shown = re.search(r'id="home-reporting">(\d+) / (\d+)<', page.text)
    assert shown and (int(shown.group(1)), int(shown.group(2))) == (own_status.received, own_status.owed)
    own = [i.id for i in catalogue().values() if "facility" in i.levels]
    assert re.findall(r'<tr data-indicator="(\w+)">', page.text) == own
    row = re.search(r'<tr data-indicator="reporting_rate">(.*?)</tr>', page.text, re.S)
    # judged today, the test province's facilities owe the months since its year of data too
    assert row and re.search(r"20\d\dQ\d", row.group(1)) and "%" in row.group(1)
    assert "data-indicator" not in console.client("prov").get("/").text  # an area's home is the map
    english = console.client("fadmin").get("/", params={"lang": "en"}).text
    assert "indicators (the last period that has ended)" in english and "已接入" not in english


def test_identity_review_shows_every_record_of_both_persons_in_words(console: Console) -> None:
    """Each possible match is shown with every record of both persons (values that differ within
    a person marked), the pair's comparison in words, and facility names, not codes."""
    from phip.identity.compare import LEVELS
    from phip.web.console.i18n import CODES

    page = console.client("prov").get("/identity").text
    groups = re.findall(
        r'<article class="card review-group" data-persons="(\S+) (\S+)">(.*?)</article>', page, re.S
    )
    assert groups
    with Session(get_engine(console.db_url)) as s:
        for left, right, body in groups:
            records = set(
                s.scalars(
                    select(PersonRecordRow.record_id).where(PersonRecordRow.person_id.in_([left, right]))
                )
            )
            assert set(re.findall(r'<th data-record="([^"]+)">', body)) == records
            assert "data-item=" in body
    levels = set(re.findall(r'data-level="(\w*)">([^<]*)<', page))
    assert levels and all(words == (CODES[code][0] if code else "") for code, words in levels)
    assert {code for code, _ in levels} - {""} <= {lv for lvs in LEVELS.values() for lv in lvs} | {"missing"}
    counts = re.search(r'id="review-counts">([^<]*)<', page)
    assert counts and "待处理" in counts.group(1) and "open" not in counts.group(1)
    assert not re.search(r"<td class=\"masked[^\"]*\">\d{6}-[A-Z]\d{3}-\d{2}</td>", page)  # names, not codes


def test_a_facility_report_groups_findings_by_rule_with_filters_and_pages(console: Console) -> None:
    """A facility's verification report counts its findings by rule before the records (errors
    first), filters by status, severity and dimension, lists one rule's records a page at a time,
    and says every status, severity and record kind in words; the scorecard is a heat map."""
    from phip.quality.report import facility_findings

    with Session(get_engine(console.db_url)) as s:
        findings = facility_findings(s, console.facility)
    county = console.client("county")
    base = f"/quality/unit/{console.facility}"
    page = county.get(base, params={"level": "facility"}).text
    rules = re.findall(r'<tr data-rule="([^"]+)"[^>]*>(.*?)</tr>', page, re.S)
    counted = {
        r: int(re.findall(r'<td class="num">([\d,]+)</td>', row)[0].replace(",", "")) for r, row in rules
    }
    want: dict[str, int] = {}
    for f in findings:
        want[f["rule_id"]] = want.get(f["rule_id"], 0) + 1
    assert counted == want and sum(counted.values()) == len(findings)
    order = {"error": 0, "warning": 1, "info": 2}
    severities = [next(f["severity"] for f in findings if f["rule_id"] == r) for r, _ in rules]
    assert [order[s] for s in severities] == sorted(order[s] for s in severities)
    # the worst rule's records are shown at once, in words
    first = rules[0][0]
    shown = re.findall(r'<tr data-finding="(\d+)"><td>([^<]*)</td>', page)
    assert {int(i) for i, _ in shown} <= {f["id"] for f in findings if f["rule_id"] == first}
    assert shown and not any(
        kind in ("Patient", "Observation", "Encounter", "Submission") for _, kind in shown
    )
    assert not re.search(r"<td>(open|acknowledged|error|warning|info)</td>", page)
    # filters: a severity keeps only its rules; a rule of many records pages
    for severity in ("error", "warning", "info"):
        kept = county.get(base, params={"level": "facility", "severity": severity}).text
        listed = set(re.findall(r'<tr data-rule="([^"]+)"', kept))
        assert listed == {f["rule_id"] for f in findings if f["severity"] == severity}
    biggest = max(want, key=lambda r: want[r])
    last = -(-want[biggest] // 50)
    tail = county.get(base, params={"level": "facility", "rule": biggest, "page": last}).text
    assert len(re.findall(r"<tr data-finding=", tail)) == want[biggest] - 50 * (last - 1)
    # the scorecard colours each unit × dimension cell by its score
    card = console.client("prov").get("/quality", params={"level": "prefecture"}).text
    assert re.search(r'<td class="num heat h[1-5]" data-dimension="\w+">', card)


def test_clinicians_list_their_facilitys_residents_with_counts_pages_and_words(console: Console) -> None:
    """The records page lists the facility's residents (how many, 50 a page, the next page by a
    cursor), a name search says how many it found, and the timeline says kinds, statuses and
    units in words."""
    from phip.store.models import Resource

    with Session(get_engine(console.db_url)) as s:
        fac = s.scalar(
            select(Resource.facility).where(
                Resource.res_type == "Patient", Resource.res_id == console.patient
            )
        )
        mine = set(
            s.scalars(
                select(Resource.res_id).where(
                    Resource.res_type == "Patient", Resource.facility == fac, Resource.deleted.is_(False)
                )
            )
        )
    doc = console.client("doc")
    seen: list[str] = []
    page = doc.get("/records").text
    total = re.search(r'id="record-total">([\d,]+) ', page)
    assert total and int(total.group(1).replace(",", "")) == len(mine)
    for _ in range(len(mine) // 50 + 2):
        rows = re.findall(r'<tr data-patient="([^"]+)">', page)
        assert len(rows) <= 50
        seen += rows
        following = re.search(r'href="/records\?q=[^&"]*&cursor=([^"]+)" id="next-page"', page)
        if not following:
            break
        page = doc.get(f"/records?q=&cursor={following.group(1)}").text
    assert len(seen) == len(set(seen)) and set(seen) == mine
    assert doc.get("/records", params={"cursor": "not-a-cursor"}).status_code == 200  # nothing, not a 500
    timeline = doc.get(f"/records/patient/{console.patient}").text
    kinds = re.findall(r'<tr data-type="(\w+)"><td>[^<]*</td><td>([^<]*)</td>', timeline)
    assert kinds and all(kind != words for kind, words in kinds)
    assert not re.search(r">(finished|completed|final|active|mm\[Hg\]|Cel)<", timeline)
    assert "mm[Hg]" not in timeline


def test_pivot_table_units_by_periods_with_true_totals(console: Console) -> None:
    """The pivot lays the units below the caller's unit against the last periods ended; its total
    column is the year's value and its total row the unit's own, both as computed (not summed);
    categories go in rows or columns; a facility administrator has none; outside the area is 403."""
    lake = console.lake
    prov = console.client("prov")
    q = {"indicator": "outpatient_visits", "period_type": "quarter", "count": "4"}
    page = prov.get("/explorer/pivot", params=q).text
    columns = re.findall(r'<th class="num( total)?" data-column="([^"]+)">', page)
    assert [c for t, c in columns if not t] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    assert [c for t, c in columns if t] == ["2025"]
    rows = dict(re.findall(r'<tr data-row="(\d+)" class="[^"]*">(.*?)</tr>', page, re.S))
    assert "620000" in rows and len(rows) >= 3

    def value(level: str, code: str, ptype: str, period: str) -> float:
        got = results.query(lake, results.Filter("outpatient_visits", level, code, None, ptype, period, ""))
        assert len(got) == 1
        return float(got[0]["value"])

    for code, row in rows.items():
        cells = re.findall(r'<td class="num[^"]*">([^<]*)<', row)
        level = "province" if code == "620000" else "prefecture"
        if "已隐藏" not in cells[-1]:
            assert float(cells[-1].replace(",", "")) == value(level, code, "year", "2025")
        if "已隐藏" not in cells[0]:
            assert float(cells[0].replace(",", "")) == value(level, code, "quarter", "2025Q1")
    # categories as columns, a rate: the total is the unit's own rate, not a sum
    cats = prov.get(
        "/explorer/pivot",
        params={
            "indicator": "ehr_use_rate",
            "period_type": "year",
            "rows": "unit",
            "columns": "category",
            "breakdown": "sex",
        },
    ).text
    heads = re.findall(r'data-column="([^"]*)">([^<]*)<', cats)
    assert {label for _, label in heads} >= {"男", "女", "合计"}
    assert "期内有就诊" in cats  # the indicator's definition beside the table
    # and what it is made of, in words, with when it was computed
    meta = re.search(r'<details class="indicator-meta".*?</details>', cats, re.S)
    assert meta and "人数（每人计一次）" in meta.group(0) and "计算时间" in meta.group(0)
    assert results.current(lake)["computed_at"] in meta.group(0) and "`" not in meta.group(0)
    assert not re.search(r"[A-Za-z]{4,}", re.sub(r"<[^>]+>", " ", meta.group(0)).replace("ehr_use_rate", ""))
    yoy = prov.get("/explorer/pivot", params={**q, "yoy": "true"}).text
    assert "上年同期" in yoy
    english = prov.get("/explorer/pivot", params={**q, "lang": "en"}).text
    assert "Pivot table" in english and "Total" in english and "合计" not in english
    assert (
        console.client("county").get("/explorer/pivot", params={"unit": console.far_county}).status_code
        == 403
    )
    assert console.client("fadmin").get("/explorer/pivot").status_code == 403
    assert console.client("doc").get("/explorer/pivot").status_code == 403
    assert console.client(None).get("/explorer/pivot").status_code == 303


def test_no_page_shows_a_raw_code_in_chinese(console: Console) -> None:
    """Every page a role opens, in Chinese: no code of the platform's vocabularies in the text a
    person reads (comparison levels, statuses, decisions, actors, record kinds, units, sex,
    severities, categories)."""
    from phip.web.console.i18n import CODES, RECORD_STATUSES, RESOURCE_TYPES, SEVERITY_WORDS, UNITS

    codes = set(CODES) | set(RECORD_STATUSES) | set(RESOURCE_TYPES) | set(SEVERITY_WORDS) | set(UNITS)
    codes |= {"acknowledged", "verified", "male", "female", "poor", "not-poor", "hospital", "primary"}
    codes -= {"a", "d", "h"}  # one-letter units: not told apart from text
    with Session(get_engine(console.db_url)) as s:
        person = s.scalar(select(PersonRecordRow.person_id).where(PersonRecordRow.person_id.is_not(None)))
    visits = {
        "prov": [
            "/",
            "/explorer",
            "/explorer/pivot",
            "/connection",
            "/reporting",
            "/quality",
            "/quality/metrics",
            "/identity",
            f"/identity/person/{person}",
            f"/quality/unit/{console.facility}?level=facility",
        ],
        "fadmin": ["/", "/reporting", "/quality", "/identity"],
        "doc": ["/records", f"/records/patient/{console.patient}"],
    }
    for user, paths in visits.items():
        client = console.client(user)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, (user, path)
            text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", r.text, flags=re.S)
            text = re.sub(r"<[^>]+>", " ", text)
            words = set(re.findall(r"(?<![\w/.:-])([A-Za-z][\w\[\]:-]*)(?![\w/.-])", text))
            leaked = {w for w in words if w in codes or w.startswith("staff:")}
            assert not leaked, (user, path, leaked)
            # nor a phrase in English (a diagnostic of the door, a rule's own words)
            english = re.findall(r"(?<![\w/.-])[a-z]+(?: [a-z]+){2,}(?![\w/.-])", text)
            assert not english, (user, path, english[:5])


def test_map_facility_points_within_scope(console: Console) -> None:
    """With `facilities`, the map data gives the area's located facilities (name, tier in words,
    connected), nothing outside the caller's area; without, none."""
    with Session(get_engine(console.db_url)) as s:
        located = {f.code: f for f in s.scalars(select(Facility).where(Facility.longitude.is_not(None)))}
    assert located
    q = {"indicator": "outpatient_visits", "facilities": "true"}
    data = console.client("prov").get("/console/data/map", params=q).json()
    assert {f["code"] for f in data["facilities"]} == set(located)
    one = data["facilities"][0]
    assert (one["lon"], one["lat"]) == (located[one["code"]].longitude, located[one["code"]].latitude)
    assert one["tier"] in ("医院", "基层医疗卫生机构", "村卫生室")
    county = console.client("county").get("/console/data/map", params=q).json()
    assert county["facilities"] and all(
        located[f["code"]].county_code == console.county for f in county["facilities"]
    )
    plain = console.client("prov").get("/console/data/map", params={"indicator": "outpatient_visits"}).json()
    assert plain["facilities"] == []
    assert console.client("doc").get("/console/data/map", params=q).status_code == 403

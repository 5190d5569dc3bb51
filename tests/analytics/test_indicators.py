"""The catalogue as data, the compiled SQL, suppression, the CLI and the API (with the
access-denied cases), and DuckDB/Spark parity on every number."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from phip.analytics import results
from phip.analytics.catalogue import (
    BREAKDOWNS,
    CatalogueError,
    Indicator,
    Measure,
    _check,
    catalogue,
    sources,
)
from phip.analytics.compile import base_table, indicator_sql, passes, source_columns
from phip.security.accounts import add_staff
from phip.settings import Settings
from phip.store import get_engine
from phip.web.app import create_app
from tests.conftest import LakeStore

#: what the issue asks the catalogue to hold at least
REQUIRED = {
    "facility_connection_rate",
    "submission_timeliness",
    "ehr_filing_rate",
    "ehr_use_rate",
    "family_doctor_contract_rate",
    "family_doctor_contract_rate_poverty",
    "hypertension_standard_management_rate",
    "hypertension_control_rate",
    "diabetes_standard_management_rate",
    "diabetes_control_rate",
    "followup_on_time_rate",
    "child_hepb3_coverage",
    "referral_facility_coverage",
    "referrals_up",
    "referrals_down",
    "appointment_share",
    "ehealth_card_use_share",
    "e_prescription_share",
    "outpatient_visits",
    "inpatient_discharges",
    "average_length_of_stay",
    "bed_occupancy_rate",
    "outpatient_cost_per_visit",
    "drug_cost_share",
    "poverty_reimbursement_ratio",
    "doctors_per_1000",
    "beds_per_1000",
}


def test_the_catalogue_holds_the_management_indicators() -> None:
    cat = catalogue()
    assert set(cat) >= REQUIRED
    for ind in cat.values():
        assert ind.name["zh"] and ind.name["en"] and ind.definition["zh"] and ind.definition["en"]
        assert ind.levels and ind.periods


def test_every_source_parses_and_gives_its_time_columns() -> None:
    for name, src in sources().items():
        cols = source_columns(name)
        assert ("facility" if src.org == "facility" else "org_unit") in cols, name
        needed = {"date"} if src.mode == "event" else {"start_date", "end_date"}
        assert needed <= set(cols), name


def test_an_inconsistent_indicator_is_refused() -> None:
    base = catalogue()["ehr_filing_rate"]
    bad = Indicator(**{**vars(base), "levels": (*base.levels, "facility")})
    with pytest.raises(CatalogueError, match="no facility level"):
        _check(bad, sources())
    bad = Indicator(**{**vars(base), "numerator": Measure("nowhere", "count")})
    with pytest.raises(CatalogueError, match="unknown source"):
        _check(bad, sources())


def test_one_statement_per_indicator_with_grouping_sets() -> None:
    ind = catalogue()["outpatient_visits"]
    sql = indicator_sql(ind)
    # one statement: totals at every period and each breakdown at months, quarters and years,
    # added up per finest org unit once each, then every level from those rows in one GROUPING SETS
    assert sql.count("GROUPING SETS") == 1 and sql.count("SELECT") > 2 and ";" not in sql
    assert sql.count("(period_type, period, breakdown, category, ") == len(ind.levels)
    assert sql.count(" AS breakdown, ") == 1 + len(ind.breakdowns)
    assert sql.count("WHERE period_type IN ('month', 'quarter', 'year') GROUP BY") == len(ind.breakdowns)
    spark = indicator_sql(ind, "spark")
    assert "GROUPING SETS" in spark and "STRING" in spark  # sqlglot wrote Spark's types
    # a source several passes read is read from the table the caller computed once
    shared = indicator_sql(ind, shared=frozenset({"visit"}))
    assert base_table("visit") in shared and "FROM encounter" not in shared and "FROM encounter" in sql
    assert passes([ind, catalogue()["ehealth_card_use_share"]])["visit"] == 2  # a fused pair reads once


def test_one_pass_over_a_shared_source_equals_two(lake_store: LakeStore) -> None:
    """Numerator and denominator from one source's events are computed in one pass; on the
    fixture province that gives exactly the rows the two computed apart and joined give."""
    from phip.analytics.calendar import calendar, calendar_periods
    from phip.analytics.compute import covered_years
    from phip.analytics.reporting import OWED_TABLE, owed_rows
    from phip.analytics.rows import can_fuse
    from phip.lake.manifest import require_manifest
    from phip.lake.reader import open_duckdb

    manifest = require_manifest(lake_store.lake)
    con, _ = open_duckdb(lake_store.lake, manifest=manifest)
    cal = calendar(*covered_years(manifest))
    con.register("lake_calendar", cal)
    con.register("lake_periods", calendar_periods(cal))
    con.register(OWED_TABLE, owed_rows(lake_store.lake, manifest, date.today()))
    fused = [ind for ind in catalogue().values() if can_fuse(ind)]
    kinds = {ind.numerator.aggregate for ind in fused}
    assert len(fused) >= 8 and {"count", "sum", "persons"} <= kinds, [i.id for i in fused]
    order = "ORDER BY ALL"
    for ind in fused:
        one = con.sql(f"SELECT * FROM ({indicator_sql(ind)}) {order}").fetchall()
        two = con.sql(f"SELECT * FROM ({indicator_sql(ind, fuse=False)}) {order}").fetchall()
        assert one and one == two, ind.id
    con.close()


def test_results_cover_levels_periods_and_breakdowns(lake_store: LakeStore) -> None:
    path = lake_store.lake / "indicators" / results.current(lake_store.lake)["file"]
    rows = duckdb.sql(
        f"SELECT indicator, level, period_type, breakdown, count(*) FROM read_parquet('{path}') GROUP BY ALL"
    ).fetchall()
    have = {(i, lv, p, b) for i, lv, p, b, _ in rows}
    for ind in catalogue().values():
        for level in ind.levels:
            if level == "township" and ind.id in ("appointment_share",):
                continue
            assert (ind.id, level, "year", "") in have or ind.periods == ("quarter",), (ind.id, level)
        for b in ind.breakdowns:
            assert any(i == ind.id and br == b for i, _, _, br in have), (ind.id, b)


def test_township_types_group_org_units_and_add_up(lake_store: LakeStore) -> None:
    """The urban/rural grouping (sub-districts, towns, townships by their division codes; facilities
    above the township level apart) adds up to the total for a count, and each township's cells
    are in the group its code says."""
    path = lake_store.lake / "indicators" / results.current(lake_store.lake)["file"]
    raw = f"read_parquet('{path}')"
    groups = dict(
        duckdb.sql(
            f"SELECT category, numerator FROM {raw} WHERE indicator = 'outpatient_visits' "
            "AND level = 'province' "
            "AND period = '2025' AND breakdown = 'township_type'"
        ).fetchall()
    )
    total = duckdb.sql(
        f"SELECT numerator FROM {raw} WHERE indicator = 'outpatient_visits' AND level = 'province' "
        "AND period = '2025' AND breakdown = ''"
    ).fetchall()[0][0]
    assert set(groups) <= {"subdistrict", "town", "rural_township", "above_township"}
    assert {"town", "above_township"} <= set(groups) and sum(groups.values()) == total
    kinds = duckdb.sql(
        f"SELECT org_unit, category FROM {raw} WHERE level = 'township' AND breakdown = 'township_type'"
    ).fetchall()
    assert kinds
    for town, kind in kinds:
        n = int(town[6:9])
        assert kind == ("subdistrict" if n < 100 else "town" if n < 200 else "rural_township"), (town, kind)


def test_small_cells_are_suppressed(lake_store: LakeStore) -> None:
    rows = results.query(lake_store.lake, results.Filter(indicator="referrals_up", breakdown=None))
    suppressed = [r for r in rows if r["suppressed"]]
    shown = [r for r in rows if not r["suppressed"]]
    assert suppressed and shown
    assert all(r["numerator"] is None and r["value"] is None for r in suppressed)
    assert all(r["numerator"] == 0 or r["numerator"] >= results.SMALL_CELL for r in shown)
    raw = lake_store.lake / "indicators" / results.current(lake_store.lake)["file"]
    small = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{raw}') WHERE indicator = 'referrals_up' "
        "AND numerator_records BETWEEN 1 AND 4"
    ).fetchall()
    # every small cell is hidden, and some larger ones with them (complementary suppression, so
    # no small one is a total minus the others: tests/security/test_suppression.py)
    assert small[0][0] > 0
    assert len(suppressed) > small[0][0]
    assert duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{raw}') WHERE indicator = 'referrals_up' "
        "AND numerator_records BETWEEN 1 AND 4 AND NOT suppressed"
    ).fetchall() == [(0,)]


def test_cli_computes_and_exports(lake_store: LakeStore, tmp_path: Path) -> None:
    from phip.cli.main import app
    from phip.settings import get_settings

    env = {"PHIP_VAR_DIR": str(lake_store.var_dir), "PHIP_DATABASE_URL": lake_store.db_url}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "ind.csv"
        r = runner.invoke(
            app, ["indicators", "compute", "--indicator", "outpatient_visits", "--out", str(out)]
        )
        assert r.exit_code == 0, r.output
        summary = json.loads(r.stdout[r.stdout.index("{") :])
        assert summary["indicators"] == 1 and summary["rows"] > 100
        with open(out, encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        assert {r["indicator"] for r in rows} == {"outpatient_visits"}
        assert all(r["numerator"] == "" for r in rows if r["suppressed"] == "True")
        bad = runner.invoke(app, ["indicators", "compute", "--engine", "oracle"])
        assert bad.exit_code == 2
        unknown = runner.invoke(app, ["indicators", "compute", "--indicator", "nope"])
        assert unknown.exit_code == 2
    finally:
        # the shared results hold the whole catalogue again for the other tests
        runner.invoke(app, ["indicators", "compute"])
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def api(lake_store: LakeStore) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(
        database_url=lake_store.db_url,
        secret_key="test-secret-ind-for-signing-tokens-only",
        demo=False,
        data_key="0123456789abcdef" * 2,
        var_dir=lake_store.var_dir,
    )
    facility = "620602-A210-01"
    with Session(get_engine(lake_store.db_url)) as s:
        county = s.execute(text("SELECT county_code FROM facility ORDER BY code LIMIT 1")).scalar_one()
        users = {
            "prov": ("province_admin", "620000", None),
            "county": ("county_admin", county, None),
            "stat": ("statistician", "620000", None),
            "doc": ("clinician", None, facility),
            "auditor": ("auditor", "620000", None),
        }
        for name, (role, unit, fac) in users.items():
            add_staff(s, f"ind-{name}", PASSWORD, role, org_unit=unit, facility=fac)
        s.commit()
    client = TestClient(create_app(settings))
    tokens = {}
    for name in users:
        r = client.post("/api/auth/login", json={"username": f"ind-{name}", "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[name] = r.json()["access_token"]
    tokens["county_code"] = county
    yield client, tokens


def _h(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def test_api_filters_by_indicator_level_and_period(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    r = client.get(
        "/api/indicators",
        params={"indicator": "outpatient_visits", "level": "prefecture", "period_type": "year"},
        headers=_h(tokens, "prov"),
    )
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert rows and {x["level"] for x in rows} == {"prefecture"}
    assert all(x["indicator_name"] == "门急诊人次" and x["org_unit_name"] for x in rows)
    en = client.get(
        "/api/indicators",
        params={"indicator": "outpatient_visits", "level": "province", "lang": "en"},
        headers=_h(tokens, "stat"),
    ).json()["rows"]
    assert en[0]["indicator_name"] == "Outpatient and emergency visits"
    children = client.get(
        "/api/indicators",
        params={"indicator": "outpatient_visits", "parent": "620000", "period_type": "year"},
        headers=_h(tokens, "prov"),
    ).json()["rows"]
    assert children and {x["level"] for x in children} == {"prefecture"}


def test_api_county_admin_sees_only_their_county(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    county = tokens["county_code"]
    rows = client.get(
        "/api/indicators",
        params={"indicator": "outpatient_visits", "period_type": "year"},
        headers=_h(tokens, "county"),
    ).json()["rows"]
    everyone = client.get(
        "/api/indicators",
        params={"indicator": "outpatient_visits", "period_type": "year"},
        headers=_h(tokens, "prov"),
    ).json()["rows"]
    assert rows and len(rows) < len(everyone)
    assert {x["level"] for x in rows} <= {"county", "township", "facility"}
    assert all(x["org_unit"].startswith(county) for x in rows)


def test_api_exports_csv_and_excel(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    params = {"indicator": "drug_cost_share", "period_type": "month"}
    r = client.get("/api/indicators", params={**params, "format": "csv"}, headers=_h(tokens, "prov"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows and rows[0]["indicator_name"] == "药占比"
    x = client.get("/api/indicators", params={**params, "format": "xlsx"}, headers=_h(tokens, "prov"))
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet.max_row == len(rows) + 1


def test_api_refuses_bad_filters(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    for params in ({"indicator": "nope"}, {"level": "galaxy"}, {"breakdown": "shoe_size"}, {"format": "pdf"}):
        assert client.get("/api/indicators", params=params, headers=_h(tokens, "prov")).status_code == 400


def test_api_access_denied(api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    for path in ("/api/indicators", "/api/indicators/catalogue"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 401
        for who in ("doc", "auditor"):
            assert client.get(path, headers=_h(tokens, who)).status_code == 403, (path, who)
    cat = client.get("/api/indicators/catalogue", headers=_h(tokens, "stat")).json()["indicators"]
    assert {i["id"] for i in cat} >= REQUIRED
    assert set(BREAKDOWNS) >= {b for i in cat for b in i["breakdowns"]}


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_agree_on_every_number(lake_store: LakeStore) -> None:
    from phip.analytics.compute import compute

    on_duck = compute(lake_store.lake, "duckdb")
    on_spark = compute(lake_store.lake, "spark")
    con = duckdb.connect()
    con.register("d", on_duck)
    con.register("s", on_spark)
    keys = "indicator, level, org_unit, period_type, period, breakdown, category"
    assert on_duck.num_rows == on_spark.num_rows > 20_000
    exact = "numerator, denominator, numerator_records, denominator_records"
    for a, b in (("d", "s"), ("s", "d")):
        diff = con.execute(
            f"SELECT count(*) FROM (SELECT {keys}, {exact} FROM {a} EXCEPT SELECT {keys}, {exact} FROM {b})"
        )
        assert diff.fetchone() == (0,)
    worst = con.execute(
        f"SELECT max(abs(d.value - s.value)) FROM d JOIN s USING ({keys}) WHERE d.value IS NOT NULL"
    ).fetchone()
    assert worst is not None and worst[0] < 1e-9
    nulls = con.execute(
        f"SELECT count(*) FROM d JOIN s USING ({keys}) WHERE (d.value IS NULL) <> (s.value IS NULL)"
    ).fetchone()
    assert nulls == (0,)


def test_exports_for_people_say_everything_in_words(api: tuple[TestClient, dict[str, str]]) -> None:
    """With `labels`, a CSV has headers, levels, breakdowns and categories in words in the chosen
    language, and the Excel file a sheet describing each indicator; without, codes (for programs)."""
    client, tokens = api
    params = {"indicator": "ehr_use_rate", "period_type": "year", "breakdown": "all", "format": "csv"}
    people = client.get("/api/indicators", params={**params, "labels": "true"}, headers=_h(tokens, "prov"))
    rows = list(csv.DictReader(io.StringIO(people.content.decode("utf-8-sig"))))
    assert rows and set(rows[0]) >= {"指标", "层级", "分组", "类别", "分子", "分母", "值", "已隐藏"}
    assert {r["层级"] for r in rows} <= {"省", "市州", "县区", "乡镇街道"}
    cats = {r["类别"] for r in rows if r["分组"] == "性别"}
    assert cats and cats <= {"男", "女", "未知", "其他"}
    assert {r["类别"] for r in rows if r["分组"] == "贫困户"} <= {"建档立卡贫困户", "非贫困户", "未知"}
    ethnic = {r["类别"] for r in rows if r["分组"] == "民族"}
    assert ethnic and not any(c.isdigit() for c in ethnic)
    english = client.get(
        "/api/indicators", params={**params, "labels": "true", "lang": "en"}, headers=_h(tokens, "prov")
    )
    header = english.content.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Indicator code,Indicator,Level") and "female" not in english.text
    machine = client.get("/api/indicators", params=params, headers=_h(tokens, "prov"))
    assert machine.content.decode("utf-8-sig").startswith("indicator,indicator_name,level")
    x = client.get(
        "/api/indicators", params={**params, "format": "xlsx", "labels": "true"}, headers=_h(tokens, "prov")
    )
    book = load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == ["指标值", "指标说明"]
    meta = list(book["指标说明"].values)
    assert meta[0][:3] == ("指标编码", "指标", "定义") and meta[1][0] == "ehr_use_rate"
    assert meta[1][2] == catalogue()["ehr_use_rate"].definition["zh"] and meta[1][8]  # computed at

"""Small-cell suppression with complementary suppression (issue 19, finding 5): no hidden cell can
be recovered by subtracting the published cells of a group from its published total, in any
published breakdown (org units under their parent, categories under their total, periods within
a longer period), on generated tables (several seeds, and hypothesis) and on the small province's
real results through the API and the console.

The attacker here is written apart from `results.suppress`: from the published rows alone (and
the public org-unit tree) it builds every "total = sum of parts" equation and solves every one
with a single unknown, again and again with what it learnt."""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from phip.analytics import results
from phip.analytics.compute import RESULT_SCHEMA
from phip.lake.manifest import require_manifest
from phip.lake.reader import table_sql
from phip.security.accounts import add_staff
from phip.settings import Settings
from phip.store import get_engine
from phip.web.app import create_app
from tests.conftest import LakeStore
from tests.console.conftest import Console, console  # noqa: F401

LEVELS = ("province", "prefecture", "county", "township", "facility")
ANCESTORS = ("province_code", "prefecture_code", "county_code", "township_code")
Key = tuple[
    str, str, str, str, str, str, str
]  # indicator, level, org unit, period type, period, breakdown, category
PASSWORD = "correct horse battery staple"


# ---- the attacker ---------------------------------------------------------------------------------
def _key(r: dict[str, Any]) -> Key:
    return (
        r["indicator"],
        r["level"],
        r["org_unit"],
        r["period_type"],
        r["period"],
        r["breakdown"] or "",
        r["category"] if r["category"] is not None else "\x00",
    )


def _quarter(period: str) -> str:
    return f"{period[:4]}Q{(int(period[5:7]) - 1) // 3 + 1}"


def _week(day: str) -> str:
    from datetime import date

    iso = date.fromisoformat(day).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def equations(
    rows: list[dict[str, Any]], ancestors: dict[tuple[bool, str], list[str | None]], periodic: frozenset[str]
) -> list[tuple[Key, list[Key]]]:
    """Every published total with the published cells that add up to it."""
    have = {_key(r) for r in rows}
    groups: dict[tuple[Any, ...], list[Key]] = defaultdict(list)
    for k in have:
        ind, level, unit, ptype, period, bd, cat = k
        depth = LEVELS.index(level)
        codes = ancestors.get((level == "facility", unit), [None] * 4)
        for j in range(depth - 1, -1, -1):  # the nearest published org unit above
            parent = (ind, LEVELS[j], codes[j] or "", ptype, period, bd, cat)
            if codes[j] and parent in have:
                groups[("org", parent)].append(k)
                break
        if bd:
            groups[("cat", bd, (ind, level, unit, ptype, period, "", ""))].append(k)
        if ind in periodic:
            year = [("year", period[:4])]
            if ptype == "day":
                longer = [("month", period[:7]), ("quarter", _quarter(period)), *year]
            elif ptype == "month":
                longer = [("quarter", _quarter(period)), *year]
            else:
                longer = year if ptype == "quarter" else []
            for lp, label in longer:
                parent = (ind, level, unit, lp, label, bd, cat)
                if parent in have:
                    groups[("period", parent)].append(k)
                    break
            if ptype == "day" and (ind, level, unit, "week", _week(period), bd, cat) in have:
                groups[("week", (ind, level, unit, "week", _week(period), bd, cat))].append(k)
    return [(g[-1], sorted(members)) for g, members in groups.items()]


def derive(rows: list[dict[str, Any]], eqs: list[tuple[Key, list[Key]]], hidden: set[Key]) -> dict[Key, Any]:
    """What subtraction recovers of the hidden cells (numerator and denominator), using every
    value recovered on the way."""
    known: dict[Key, tuple[float, float]] = {
        _key(r): (r["numerator"] or 0.0, r["denominator"] or 0.0) for r in rows if _key(r) not in hidden
    }
    found: dict[Key, Any] = {}
    changed = True
    while changed:
        changed = False
        for total, members in eqs:
            cells = [total, *members]
            unknown = [c for c in cells if c not in known]
            if len(unknown) != 1:
                continue
            (u,) = unknown
            if u == total:
                value = tuple(sum(known[m][i] for m in members) for i in (0, 1))
            else:
                value = tuple(known[total][i] - sum(known[m][i] for m in members if m != u) for i in (0, 1))
            known[u] = found[u] = value  # type: ignore[assignment]
            changed = True
    return found


def small(r: dict[str, Any]) -> bool:
    return any(0 < (r[c] or 0) < results.SMALL_CELL for c in ("numerator_records", "denominator_records"))


# ---- generated provinces ----------------------------------------------------------------------------
def province(rng: random.Random) -> tuple[pa.Table, pa.Table, pa.Table, frozenset[str]]:
    """A random org-unit tree (facilities under townships, some straight under a county), a
    count and a rate per facility, month and sex, and every published row added up from them
    (as `compute` does: org units, sex under its total, months in quarters in years, and days
    in months and in ISO weeks for the count)."""
    units: list[dict[str, Any]] = [{"code": "62", "province_code": "62"}]
    facilities: list[dict[str, Any]] = []
    for p in range(rng.randint(1, 3)):
        pref = f"62{p + 1:02d}"
        units.append({"code": pref, "province_code": "62", "prefecture_code": pref})
        for c in range(rng.randint(1, 3)):
            county = f"{pref}{c + 1:02d}"
            up = {"province_code": "62", "prefecture_code": pref, "county_code": county}
            units.append({"code": county, **up})
            for f in range(rng.randint(0, 1)):
                facilities.append({"code": f"{county}-H{f}", **up, "township_code": None})
            for t in range(rng.randint(1, 3)):
                town = f"{county}{t + 1:03d}"
                units.append({"code": town, **up, "township_code": town})
                for f in range(rng.randint(1, 3)):
                    facilities.append({"code": f"{town}-F{f}", **up, "township_code": town})
    cols = ["code", *ANCESTORS]
    unit_table = pa.Table.from_pylist([{c: u.get(c) for c in cols} for u in units])
    fac_table = pa.Table.from_pylist([{c: f.get(c) for c in cols} for f in facilities])

    def draw() -> int:
        x = rng.random()
        return 0 if x < 0.3 else rng.randint(1, 4) if x < 0.6 else rng.randint(5, 25)

    # (indicator, facility, day, sex) -> (numerator, denominator)
    leaf: dict[tuple[str, str, str, str | None], tuple[int, int]] = {}
    days = [f"2024-{m:02d}-{d:02d}" for m in range(1, 7) for d in (3, 17, 29)]
    for f in facilities:
        for day in rng.sample(days, rng.randint(1, len(days))):
            for sex in ("1", "2", None):
                n = draw()
                if n:
                    leaf[("visits", f["code"], day, sex)] = (n, 0)
                den = draw()
                if den:
                    leaf[("share", f["code"], day, sex)] = (rng.randint(0, den), den)
    place = {f["code"]: f for f in facilities}
    cells: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for (ind, fac, day, sex), (num, den) in leaf.items():
        f = place[fac]
        org = [("facility", fac)] + [(LEVELS[j], f[ANCESTORS[j]]) for j in range(4) if f[ANCESTORS[j]]]
        periods = [("month", day[:7]), ("quarter", _quarter(day)), ("year", day[:4])]
        if ind == "visits":
            periods += [("day", day), ("week", _week(day))]
        for level, unit in org:
            for ptype, period in periods:
                cats = [("", "")] + ([("sex", sex)] if ptype in ("month", "quarter", "year") else [])
                for bd, cat in cats:
                    cell = cells[(ind, level, unit, ptype, period, bd, cat)]  # type: ignore[index]
                    cell[0] += num
                    cell[1] += den
    out = []
    for (ind, level, unit, ptype, period, bd, cat), (num, den) in sorted(
        cells.items(), key=lambda kv: tuple(str(x) for x in kv[0])
    ):
        rate = ind == "share"
        out.append(
            {
                "indicator": ind,
                "level": level,
                "org_unit": unit,
                "period_type": ptype,
                "period": period,
                "breakdown": bd,
                "category": cat,
                "numerator": float(num),
                "denominator": float(den) if rate else None,
                "value": (num / den if den else None) if rate else float(num),
                "numerator_records": num,
                "denominator_records": den if rate else None,
            }
        )
    return (
        pa.Table.from_pylist(out, schema=RESULT_SCHEMA),
        unit_table,
        fac_table,
        frozenset({"visits", "share"}),
    )


def _ancestors(units: pa.Table, facilities: pa.Table) -> dict[tuple[bool, str], list[str | None]]:
    out = {}
    for is_fac, t in ((False, units), (True, facilities)):
        for r in t.to_pylist():
            out[(is_fac, r["code"])] = [r.get(c) for c in ANCESTORS]
    return out


def _published(table: pa.Table, hidden: pa.ChunkedArray) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for r, h in zip(rows, hidden.to_pylist(), strict=True):
        r["suppressed"] = h
        if h:
            r["numerator"] = r["denominator"] = r["value"] = None
    return rows


def _check(table: pa.Table, units: pa.Table, facilities: pa.Table, periodic: frozenset[str]) -> int:
    """Suppress, then attack the published rows; returns how many cells primary suppression alone
    would have given away."""
    hidden = results.suppress(table, units, facilities, periodic)
    rows = table.to_pylist()
    flags = hidden.to_pylist()
    assert len(flags) == len(rows)
    assert all(h for r, h in zip(rows, flags, strict=True) if small(r))  # every small cell is hidden
    eqs = equations(rows, _ancestors(units, facilities), periodic)
    published = _published(table, hidden)
    leaked = derive(published, eqs, {_key(r) for r in published if r["suppressed"]})
    assert leaked == {}, list(leaked)[:5]
    primary_only = {_key(r) for r in rows if small(r)}
    return len(derive(rows, eqs, primary_only))


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 8, 13])
def test_no_hidden_cell_is_derivable_in_generated_provinces(seed: int) -> None:
    table, units, facilities, periodic = province(random.Random(seed))
    assert table.num_rows > 500
    given_away = _check(table, units, facilities, periodic)
    assert given_away > 0  # without the complements these tables leak: the test has teeth


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_no_hidden_cell_is_derivable_hypothesis(seed: int) -> None:
    _check(*province(random.Random(seed)))


def test_suppression_is_deterministic_and_stable_under_row_order() -> None:
    table, units, facilities, periodic = province(random.Random(21))
    first = results.suppress(table, units, facilities, periodic).to_pylist()
    order = list(range(table.num_rows))
    random.Random(4).shuffle(order)
    shuffled = results.suppress(table.take(pa.array(order)), units, facilities, periodic).to_pylist()
    assert [first[i] for i in order] == shuffled


# ---- the attacker's case ---------------------------------------------------------------------------
def _row(level: str, unit: str, n: int, bd: str = "", cat: str = "") -> dict[str, Any]:
    return {
        "indicator": "visits",
        "level": level,
        "org_unit": unit,
        "period_type": "year",
        "period": "2024",
        "breakdown": bd,
        "category": cat,
        "numerator": float(n),
        "denominator": None,
        "value": float(n),
        "numerator_records": n,
        "denominator_records": None,
    }


def test_regression_county_total_minus_the_other_townships() -> None:
    """The attacker's case: a county of 53 visits, townships of 3 (hidden), 20 and 30. Before, the
    3 was 53 - 20 - 30; now the 20 is hidden with it. Likewise a township's total minus its other
    sex: 20 = 17 + 3 (hidden) hides the 17."""
    up = {"province_code": "62", "prefecture_code": "6201", "county_code": "620101"}
    towns = ["620101001", "620101002", "620101003"]
    units = pa.Table.from_pylist(
        [
            {"code": "62", "province_code": "62", "prefecture_code": None, "county_code": None},
            {"code": "6201", "province_code": "62", "prefecture_code": "6201", "county_code": None},
            {"code": "620101", **up},
        ]
        + [{"code": t, **up, "township_code": t} for t in towns]
    )
    facilities = pa.Table.from_pylist([], schema=units.schema)
    rows = [
        _row("province", "62", 53),
        _row("prefecture", "6201", 53),
        _row("county", "620101", 53),
        _row("township", towns[0], 3),
        _row("township", towns[1], 20),
        _row("township", towns[2], 30),
        _row("township", towns[1], 17, "sex", "1"),
        _row("township", towns[1], 3, "sex", "2"),
    ]
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    hidden = dict(
        zip(
            [(r["org_unit"], r["category"]) for r in rows],
            results.suppress(table, units, facilities).to_pylist(),
            strict=True,
        )
    )
    assert hidden == {
        ("62", ""): False,
        ("6201", ""): False,
        ("620101", ""): False,
        (towns[0], ""): True,  # small
        (towns[1], ""): True,  # the complement: the smallest other township
        (towns[2], ""): False,
        (towns[1], "1"): True,  # the complement of the small sex
        (towns[1], "2"): True,  # small
    }
    # and the attack that worked before finds nothing now
    eqs = equations(rows, _ancestors(units, facilities), frozenset())
    published = _published(table, results.suppress(table, units, facilities))
    assert derive(published, eqs, {_key(r) for r in published if r["suppressed"]}) == {}
    assert derive(rows, eqs, {_key(r) for r in rows if small(r)}) == {
        ("visits", "township", towns[0], "year", "2024", "", ""): (3.0, 0.0),
        ("visits", "township", towns[1], "year", "2024", "sex", "2"): (3.0, 0.0),
    }


# ---- the small province's real results --------------------------------------------------------------
def _lake_ancestors(lake: Path) -> dict[tuple[bool, str], list[str | None]]:
    manifest = require_manifest(lake)
    con = duckdb.connect()
    units = con.sql(table_sql(lake, manifest.tables["org_unit"])).to_arrow_table()
    facilities = con.sql(table_sql(lake, manifest.tables["facility"])).to_arrow_table()
    con.close()
    return _ancestors(units, facilities)


def test_real_results_give_nothing_away(lake_store: LakeStore) -> None:
    """Every row the platform publishes (province-wide, every breakdown): nothing derivable;
    while primary suppression alone gives cells away in these results."""
    rows = results.query(lake_store.lake, results.Filter(breakdown=None))
    assert any(r["suppressed"] for r in rows)
    eqs = equations(rows, _lake_ancestors(lake_store.lake), results.periodic())
    assert derive(rows, eqs, {_key(r) for r in rows if r["suppressed"]}) == {}
    raw = pq.read_table(lake_store.lake / "indicators" / results.current(lake_store.lake)["file"])
    raw_rows = raw.to_pylist()
    people = results.people()  # small counts of residents are hidden, of facilities shown
    assert all(r["suppressed"] for r in raw_rows if small(r) and r["indicator"] in people)
    assert any(small(r) and not r["suppressed"] for r in raw_rows if r["indicator"] not in people)
    hidden = {_key(r) for r in raw_rows if small(r) and r["indicator"] in people}
    assert derive(raw_rows, eqs, hidden)  # what the attacker had


@pytest.fixture(scope="module")
def county_api(lake_store: LakeStore) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    settings = Settings(
        database_url=lake_store.db_url,
        secret_key="test-secret-sup-for-signing-tokens-only",
        demo=False,
        data_key=lake_store.data_key,
        var_dir=lake_store.var_dir,
    )
    from sqlalchemy import text

    with Session(get_engine(lake_store.db_url)) as s:
        county = s.execute(text("SELECT county_code FROM facility ORDER BY code LIMIT 1")).scalar_one()
        add_staff(s, "sup-county", PASSWORD, "county_admin", org_unit=county)
        add_staff(s, "sup-doc", PASSWORD, "clinician", facility="620602-A210-01")
        s.commit()
    client = TestClient(create_app(settings))
    tokens = {}
    for name in ("sup-county", "sup-doc"):
        r = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[name] = r.json()["access_token"]
    yield client, tokens, county


def _csv_rows(text: str) -> list[dict[str, Any]]:
    out = []
    for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff"))):
        row: dict[str, Any] = dict(r)
        for c in ("numerator", "denominator", "value"):
            row[c] = float(r[c]) if r[c] != "" else None
        row["suppressed"] = r["suppressed"] == "True"
        row["category"] = r["category"]
        out.append(row)
    return out


def test_county_administrator_cannot_derive_hidden_cells_over_the_api(
    county_api: tuple[TestClient, dict[str, str], str], lake_store: LakeStore
) -> None:
    """Everything a county administrator can download (every indicator, level, period and
    breakdown of their county and below): nothing hidden is derivable from it."""
    client, tokens, _county = county_api
    r = client.get(
        "/api/indicators",
        params={"breakdown": "all", "format": "csv"},
        headers={"Authorization": f"Bearer {tokens['sup-county']}"},
    )
    assert r.status_code == 200, r.text
    rows = _csv_rows(r.text)
    assert rows and {x["level"] for x in rows} <= {"county", "township", "facility"}
    assert any(x["suppressed"] for x in rows)
    assert all(x["numerator"] is None and x["value"] is None for x in rows if x["suppressed"])
    # CSV gives an empty category for a NULL one: the attacker treats both alike
    for x in rows:
        x["category"] = x["category"] if x["breakdown"] else ""
    eqs = equations(rows, _lake_ancestors(lake_store.lake), results.periodic())
    assert derive(rows, eqs, {_key(x) for x in rows if x["suppressed"]}) == {}
    # the denied case: indicators are not for clinicians
    denied = client.get("/api/indicators", headers={"Authorization": f"Bearer {tokens['sup-doc']}"})
    assert denied.status_code == 403


def test_console_map_hides_the_same_cells(console: Console) -> None:  # noqa: F811
    """The overview map of a prefecture's counties, with the prefecture's total from the API:
    the map hides exactly the cells the API hides, and no hidden county is its total minus the
    others."""
    pref = console.client("pref")
    for indicator in ("outpatient_visits", "referrals_up", "ehr_filing_rate"):
        data = pref.get("/console/data/map", params={"indicator": indicator}).json()
        if not data["period"]:
            continue
        api = results.query(
            console.lake,
            results.Filter(
                indicator, "county", None, console.prefecture, data["period_type"], data["period"], ""
            ),
        )
        flags = {r["org_unit"]: r["suppressed"] for r in api}
        assert {v["code"]: v["suppressed"] for v in data["values"]} == flags
        assert all(v["value"] is None and v["numerator"] is None for v in data["values"] if v["suppressed"])
        total = results.query(
            console.lake,
            results.Filter(
                indicator, "prefecture", console.prefecture, None, data["period_type"], data["period"], ""
            ),
        )
        # the prefecture's parts: its counties (the map) and facilities placed straight under it
        direct = results.query(
            console.lake,
            results.Filter(
                indicator, "facility", None, console.prefecture, data["period_type"], data["period"], ""
            ),
        )
        hidden = [v["code"] for v in data["values"] if v["suppressed"]] + [
            r["org_unit"] for r in direct if r["suppressed"]
        ]
        if total and not total[0]["suppressed"]:
            assert len(hidden) != 1, (indicator, hidden)
    # the denied case: a clinician has no overview map
    assert console.client("doc").get(
        "/console/data/map", params={"indicator": "outpatient_visits"}
    ).status_code in (
        303,
        403,
    )

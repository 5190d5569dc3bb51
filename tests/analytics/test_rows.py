"""The shortcuts the compiled catalogue takes (spells instead of DISTINCT per period, birth
classes, distinct keys grouped on the finest org unit, sums rolled up along the calendar, the
catalogue's analytics tables) give exactly what counting row by row gives: random rows with
overlaps, open ends, partial birth dates and several org units, recomputed in plain Python."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from phip.analytics.calendar import calendar, calendar_periods
from phip.analytics.catalogue import Indicator, Measure, catalogue
from phip.analytics.compile import indicator_sql
from phip.analytics.facts import fact_table
from phip.analytics.states import birth_class
from phip.standards.agegroups import age_group, age_group_ymd_sql
from tests.conftest import LakeStore

YEARS = (2024, 2025)
#: township → county; one prefecture, one province
TOWNSHIPS = {"620101001": "620101", "620101002": "620101", "620102001": "620102"}
FACILITIES = {"F1": ("620101001", "hospital"), "F2": ("620101002", "primary"), "F3": ("620102001", "village")}
LEVELS = ("province", "prefecture", "county", "township")


def _units(township: str) -> dict[str, str]:
    county = TOWNSHIPS[township]
    return {"province": "620000", "prefecture": "620100", "county": county, "township": township}


def _ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _age(birth: int | None, on: date) -> str:
    if birth is None:
        return "unknown"
    age = (_ymd(on) - birth) // 10000
    return age_group(age) if age >= 0 else "unknown"


def _periods(kinds: Iterable[str]) -> list[dict[str, Any]]:
    table = calendar_periods(calendar(*YEARS)).to_pylist()
    return [p for p in table if p["period_type"] in kinds]


def _con() -> duckdb.DuckDBPyConnection:
    """A database with the calendar and the registry (org units, facilities) of `TOWNSHIPS` and
    `FACILITIES`, as the lake has them."""
    con = duckdb.connect()
    cal = calendar(*YEARS)
    con.register("lake_calendar", cal)
    con.register("lake_periods", calendar_periods(cal))
    units = [_units(t) for t in TOWNSHIPS]
    levels = [(u["province"], u["prefecture"], u["county"], u["township"]) for u in units]
    levels += {(u["province"], u["prefecture"], u["county"], None) for u in units}
    levels += [("620000", "620100", None, None), ("620000", None, None, None)]
    org_units = [(next(c for c in reversed(lv) if c), *lv) for lv in levels]
    con.execute(
        "CREATE TABLE org_unit(code VARCHAR, province_code VARCHAR, prefecture_code VARCHAR, "
        "county_code VARCHAR, township_code VARCHAR)"
    )
    con.executemany("INSERT INTO org_unit VALUES (?, ?, ?, ?, ?)", org_units)
    con.execute(
        "CREATE TABLE facility(code VARCHAR, province_code VARCHAR, prefecture_code VARCHAR, "
        "county_code VARCHAR, township_code VARCHAR, tier VARCHAR)"
    )
    facilities = [(code, *_units(t).values(), tier) for code, (t, tier) in FACILITIES.items()]
    con.executemany("INSERT INTO facility VALUES (?, ?, ?, ?, ?, ?)", facilities)
    return con


def _engine(con: duckdb.DuckDBPyConnection, ind: Indicator, source: str) -> dict[tuple[Any, ...], float]:
    """The indicator's numerators by cell, read from the analytics table `con` holds for `source`."""
    rel = con.sql(indicator_sql(ind, facts=frozenset({source})))
    cols = rel.columns
    out = {}
    for r in rel.fetchall():
        rec = dict(zip(cols, r, strict=True))
        key = (
            rec["level"],
            rec["org_unit"],
            rec["period_type"],
            rec["period"],
            rec["breakdown"],
            rec["category"],
        )
        out[key] = rec["numerator"]
    return out


Item = tuple[str, str, dict[str, str], str, str, str]  # period type, period, units, breakdown, category, who


def _distinct(items: Iterable[Item]) -> dict[tuple[Any, ...], float]:
    """How many distinct `who` each cell (level, org unit, period type, period, breakdown,
    category) has."""
    got: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for kind, label, units, breakdown, category, who in items:
        for level in LEVELS:
            got[(level, units[level], kind, label, breakdown, category)].add(who)
    return {k: float(len(v)) for k, v in got.items()}


def _random_people(rng: random.Random, n: int) -> list[dict[str, Any]]:
    people = []
    for i in range(n):
        born = date(1955, 1, 1) + timedelta(days=rng.randrange(0, 70 * 366))
        birth: int | None = _ymd(born)
        roll = rng.random()
        if roll < 0.05:
            birth = None
        elif roll < 0.1:
            birth = born.year * 10000  # a year only
        elif roll < 0.15:
            birth = born.year * 10000 + born.month * 100  # a year and month
        people.append(
            {
                "person_id": f"P{i:04d}",
                "township": rng.choice(list(TOWNSHIPS)),
                "sex": rng.choice(["male", "female"]),
                "birth": birth,
            }
        )
    return people


def _fact(con: duckdb.DuckDBPyConnection, source: str, rows: list[dict[str, Any]]) -> None:
    con.register(f"{source}_arrow", pa.Table.from_pylist(rows))
    con.execute(f"CREATE TABLE {fact_table(source)} AS SELECT * FROM {source}_arrow")


def _resident_columns(p: dict[str, Any]) -> dict[str, Any]:
    units = _units(p["township"])
    return {
        "org_unit": p["township"],
        "person_id": p["person_id"],
        "province_code": units["province"],
        "prefecture_code": units["prefecture"],
        "county_code": units["county"],
        "township_code": units["township"],
        "facility_code": None,
        "facility_type": "unknown",
        "sex": p["sex"],
        "ethnicity": "unknown",
        "poverty": "unknown",
        "given_age_group": None,
        "birth_ymd": p["birth"],
    }


def test_birth_classes_keep_every_age_group_at_period_ends() -> None:
    """For births on every day around the age groups' edges (and partial dates), the age group
    on the last day of every month, quarter and year is the same from the class as from the
    date."""
    con = _con()
    births = [_ymd(date(1957, 1, 1) + timedelta(days=d)) for d in range(6 * 366)]
    births += [_ymd(date(2018, 1, 1) + timedelta(days=d)) for d in range(8 * 366)]
    births += [y * 10000 for y in range(1957, 1963)] + [
        y * 10000 + m * 100 for y in (1959, 2023) for m in range(1, 13)
    ]
    con.register("births", pa.table({"b": pa.array(births, pa.int32())}))
    for kinds in (("month", "quarter", "year"), ("quarter", "year"), ("year",)):
        cls = birth_class("b", kinds)
        assert cls != "b"
        when = "(year(period_end) * 10000 + month(period_end) * 100 + day(period_end))"
        differ = con.sql(
            f"SELECT count(*), count(DISTINCT {cls}) FROM births, lake_periods WHERE period_type IN "
            f"({', '.join(repr(k) for k in kinds)}) AND "
            f"{age_group_ymd_sql('b', when)} <> {age_group_ymd_sql(cls, when)}"
        ).fetchall()
        assert differ[0][0] == 0, kinds
        classes = con.sql(f"SELECT count(DISTINCT {cls}) FROM births").fetchall()[0][0]
        assert classes < len(set(births)) / 20  # far fewer classes than birthdays
    assert birth_class("b", ("week", "year")) == "b"  # a week ends on any day


def test_residents_in_a_state_counted_once_per_period() -> None:
    """Contracts with overlaps, gaps, open starts and ends: the persons under contract at each
    period end, by org unit, sex and age group, as counting them person by person gives."""
    rng = random.Random(11)
    people = _random_people(rng, 300)
    rows = []
    day0 = date(2023, 6, 1)
    for p in people:
        for _ in range(rng.choice([1, 1, 1, 2, 3, 4])):
            start = day0 + timedelta(days=rng.randrange(0, 900))
            end = start + timedelta(days=rng.randrange(0, 500))
            rows.append(
                {
                    **_resident_columns(p),
                    "start_date": None if rng.random() < 0.1 else start,
                    "end_date": None if rng.random() < 0.3 else end,
                }
            )
    con = _con()
    _fact(con, "contract", rows)
    base = catalogue()["family_doctor_contract_rate"]
    ind = replace(
        base,
        denominator=None,
        numerator=Measure("contract", "persons"),
        periods=("month", "quarter", "year"),
        breakdowns=("sex", "age_group"),
    )
    items: list[Item] = []
    for per in _periods(ind.periods):
        end = per["period_end"]
        for r in rows:
            if (r["start_date"] is None or r["start_date"] <= end) and (
                r["end_date"] is None or r["end_date"] >= end
            ):
                units = {lv: r[f"{lv}_code"] for lv in LEVELS}
                who = r["person_id"]
                items.append((per["period_type"], per["period"], units, "", "", who))
                if per["period_type"] in ("month", "quarter", "year"):
                    items.append((per["period_type"], per["period"], units, "sex", r["sex"], who))
                    age = _age(r["birth_ymd"], end)
                    items.append((per["period_type"], per["period"], units, "age_group", age, who))
    want = _distinct(items)
    got = _engine(con, ind, "contract")
    assert len(want) > 500 and got == want


def test_residents_with_events_counted_once_per_period() -> None:
    """Record use (a person's visits, several a month): distinct persons per quarter and year."""
    rng = random.Random(12)
    people = _random_people(rng, 300)
    rows = []
    for p in people:
        for _ in range(rng.randrange(0, 12)):
            day = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 730))
            rows.append({**_resident_columns(p), "date": day})
    con = _con()
    _fact(con, "record_use", rows)
    ind = replace(catalogue()["ehr_use_rate"], denominator=None, breakdowns=("sex", "age_group"))
    items: list[Item] = []
    periods = _periods(ind.periods)
    for r in rows:
        for per in periods:
            if per["period_start"] <= r["date"] <= per["period_end"]:
                units = {lv: r[f"{lv}_code"] for lv in LEVELS}
                key = (per["period_type"], per["period"], units)
                who = r["person_id"]
                items.append((*key, "", "", who))
                items.append((*key, "sex", r["sex"], who))
                items.append((*key, "age_group", _age(r["birth_ymd"], per["period_end"]), who))
    want = _distinct(items)
    got = _engine(con, ind, "record_use")
    assert len(want) > 200 and got == want


def test_event_counts_rolled_up_along_the_calendar() -> None:
    """Visits counted per day, week, month, quarter and year at every level (facility too), and by
    sex, age group (on the day of the visit) and facility type for months, quarters and years."""
    rng = random.Random(13)
    people = _random_people(rng, 200)
    rows = []
    for _ in range(4000):
        p = rng.choice(people)
        fac = rng.choice(list(FACILITIES))
        township, tier = FACILITIES[fac]
        units = _units(township)
        rows.append(
            {
                "facility": fac,
                "person_id": p["person_id"],
                "date": date(2024, 1, 1) + timedelta(days=rng.randrange(0, 731)),
                "class": rng.choice(["AMB", "AMB", "EMER", "IMP"]),
                "encounter_type": None,
                "card_used": rng.random() < 0.5,
                "tier": tier,
                "province_code": units["province"],
                "prefecture_code": units["prefecture"],
                "county_code": units["county"],
                "township_code": township,
                "facility_code": fac,
                "facility_type": tier,
                "sex": p["sex"],
                "ethnicity": "unknown",
                "poverty": "unknown",
                "given_age_group": None,
                "birth_ymd": p["birth"],
            }
        )
    con = _con()
    _fact(con, "visit", rows)
    ind = replace(catalogue()["outpatient_visits"], breakdowns=("sex", "age_group", "facility_type"))
    want: dict[tuple[Any, ...], float] = defaultdict(float)
    periods = _periods(ind.periods)
    for r in rows:
        if r["class"] not in ("AMB", "EMER"):
            continue
        units = {**_units(r["township_code"]), "facility": r["facility"]}
        for per in periods:
            if not per["period_start"] <= r["date"] <= per["period_end"]:
                continue
            cells = [("", "")]
            if per["period_type"] in ("month", "quarter", "year"):
                cells += [("sex", r["sex"]), ("age_group", _age(r["birth_ymd"], r["date"]))]
                cells += [("facility_type", r["facility_type"])]
            for level in (*LEVELS, "facility"):
                for breakdown, category in cells:
                    want[(level, units[level], per["period_type"], per["period"], breakdown, category)] += 1
    got = _engine(con, ind, "visit")
    assert len(want) > 5000 and got == dict(want)


def test_analytics_tables_give_what_the_lake_tables_give(lake_store: LakeStore) -> None:
    """The catalogue read from the lake's analytics tables equals the catalogue computed from the
    lake's own tables, every row; the refresh wrote every source's table with its SQL's hash."""
    from phip.analytics.compute import compute
    from phip.analytics.facts import current_facts, fact_sources
    from phip.lake.manifest import require_manifest

    manifest = require_manifest(lake_store.lake)
    kept = fact_sources()
    assert current_facts(manifest) == kept and "reporting_owed" not in kept  # judged on the day
    assert all(manifest.tables[fact_table(s)].rows >= 0 for s in kept)
    order = ["indicator", "level", "org_unit", "period_type", "period", "breakdown", "category"]
    fast = compute(lake_store.lake).sort_by([(c, "ascending") for c in order])
    slow = compute(lake_store.lake, use_facts=False).sort_by([(c, "ascending") for c in order])
    assert fast.num_rows > 1000 and fast.equals(slow)

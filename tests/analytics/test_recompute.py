"""Indicators recomputed independently, in plain Python over the same truth (the store's
resources, the registry files and the person index), agree exactly with the engine's results."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.analytics import results
from phip.identity.models import PersonRecordRow
from phip.store import get_engine
from phip.store.models import Resource, SubmissionBatch
from tests.conftest import LakeStore

EXT = "https://phip.health/fhir/StructureDefinition/"
DEAD = ("cancelled", "entered-in-error")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Truth:
    def __init__(self, store: LakeStore):
        self.store = store
        self.units = {r["code"]: r for r in _csv(store.province / "registry" / "org_units.csv")}
        self.facilities = {r["code"]: r for r in _csv(store.province / "registry" / "facilities.csv")}
        self.session = Session(get_engine(store.db_url))
        self.person_of = dict(
            self.session.execute(select(PersonRecordRow.record_id, PersonRecordRow.person_id)).all()
        )

    def resources(self, rtype: str) -> list[tuple[dict[str, Any], str | None]]:
        q = select(Resource.content, Resource.facility).where(
            Resource.res_type == rtype, Resource.deleted.is_(False)
        )
        return [(orjson.loads(c), f) for c, f in self.session.execute(q)]

    def ancestor(self, code: str | None, level: str) -> str | None:
        while code:
            unit = self.units.get(code)
            if unit is None:
                return None
            if unit["level"] == level:
                return code
            code = unit["parent_code"]
        return None

    def fac_unit(self, facility: str | None, level: str) -> str | None:
        if level == "facility":
            return facility if facility in self.facilities else None
        f = self.facilities.get(facility or "")
        return self.ancestor(f["org_unit_code"], level) if f else None

    def person(self, patient_ref: str) -> str:
        return self.person_of.get(patient_ref) or patient_ref

    @cache  # noqa: B019 - one Truth per test module
    def person_attrs(self) -> dict[str, dict[str, Any]]:
        """Per person, each attribute the value most of their records give (ties: smallest)."""
        values: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        for res, _ in self.resources("Patient"):
            p = self.person(f"Patient/{res['id']}")
            if res.get("gender"):
                values[p]["gender"][res["gender"]] += 1
            if res.get("birthDate"):
                values[p]["birth"][res["birthDate"]] += 1
            for a in res.get("address", [])[:1]:
                for e in a.get("extension", []):
                    if e["url"] == EXT + "division-code":
                        division = e["valueCode"]
                        town = self.ancestor(division, "township") or self.ancestor(division, "county")
                        if town:
                            values[p]["township"][town] += 1
        out = {}
        for p, attrs in values.items():
            out[p] = {k: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for k, c in attrs.items()}
        return out


@pytest.fixture(scope="module")
def truth(lake_store: LakeStore) -> Truth:
    return Truth(lake_store)


def engine_cells(store: LakeStore, indicator: str, level: str, period_type: str, breakdown: str = "") -> dict:
    """(org unit, period, category) → (numerator, denominator) from the stored results (unsuppressed)."""
    path = store.lake / "indicators" / results.current(store.lake)["file"]
    rows = duckdb.sql(
        f"SELECT org_unit, period, category, numerator, denominator FROM read_parquet('{path}') "
        "WHERE indicator = ? AND level = ? AND period_type = ? AND breakdown = ?",
        params=[indicator, level, period_type, breakdown],
    ).fetchall()
    return {(o, p, c): (n, d) for o, p, c, n, d in rows}


def quarter(day: str) -> str:
    return f"{day[:4]}Q{(int(day[5:7]) - 1) // 3 + 1}"


def _d(text: str) -> date:
    return date.fromisoformat(text[:10])


def test_outpatient_visits_by_county_and_month(lake_store: LakeStore, truth: Truth) -> None:
    expected: Counter[tuple[str, str, str]] = Counter()
    for res, fac in truth.resources("Encounter"):
        if res["class"]["code"] in ("AMB", "EMER") and res.get("status") not in DEAD:
            county = truth.fac_unit(fac, "county")
            if county:
                expected[(county, res["period"]["start"][:7], "")] += 1
    got = engine_cells(lake_store, "outpatient_visits", "county", "month")
    assert len(expected) > 10
    assert {k: v[0] for k, v in got.items()} == expected


def test_outpatient_visits_by_sex_and_age_group(lake_store: LakeStore, truth: Truth) -> None:
    from phip.standards.agegroups import age_group, age_on

    attrs = truth.person_attrs()
    by_sex: Counter[tuple[str, str, str]] = Counter()
    by_age: Counter[tuple[str, str, str]] = Counter()
    for res, fac in truth.resources("Encounter"):
        if res["class"]["code"] not in ("AMB", "EMER") or res.get("status") in DEAD:
            continue
        province = truth.fac_unit(fac, "province")
        if not province:
            continue
        a = attrs.get(truth.person(res["subject"]["reference"]), {})
        year = res["period"]["start"][:4]
        by_sex[(province, year, a.get("gender", "unknown"))] += 1
        group = age_group(age_on(_d(a["birth"]), _d(res["period"]["start"]))) if "birth" in a else "unknown"
        by_age[(province, year, group)] += 1
    got_sex = engine_cells(lake_store, "outpatient_visits", "province", "year", "sex")
    got_age = engine_cells(lake_store, "outpatient_visits", "province", "year", "age_group")
    assert {k: v[0] for k, v in got_sex.items()} == by_sex
    assert {k: v[0] for k, v in got_age.items()} == by_age
    assert len(by_age) >= 5


def test_average_length_of_stay_by_facility_and_quarter(lake_store: LakeStore, truth: Truth) -> None:
    days: Counter[tuple[str, str, str]] = Counter()
    stays: Counter[tuple[str, str, str]] = Counter()
    for res, fac in truth.resources("Encounter"):
        period = res.get("period", {})
        if res["class"]["code"] != "IMP" or "end" not in period or res.get("status") in DEAD:
            continue
        if fac not in truth.facilities:
            continue
        key = (fac, quarter(period["end"]), "")
        days[key] += max(1, (_d(period["end"]) - _d(period["start"])).days)
        stays[key] += 1
    got = engine_cells(lake_store, "average_length_of_stay", "facility", "quarter")
    assert stays and {k: (days[k], stays[k]) for k in stays} == got


def test_drug_share_by_prefecture_and_year(lake_store: LakeStore, truth: Truth) -> None:
    drug: Counter[tuple[str, str, str]] = Counter()
    total: Counter[tuple[str, str, str]] = Counter()
    for res, fac in truth.resources("Claim"):
        prefecture = truth.fac_unit(fac, "prefecture")
        if not prefecture:
            continue
        key = (prefecture, res["created"][:4], "")
        for item in res.get("item", []):
            cents = round(item["net"]["value"] * 100)
            total[key] += cents
            if item["productOrService"]["coding"][0]["code"] == "drug":
                drug[key] += cents
    got = engine_cells(lake_store, "drug_cost_share", "prefecture", "year")
    assert total and {k: (drug[k] / 100, total[k] / 100) for k in total} == got


def test_e_prescription_share_by_township_and_quarter(lake_store: LakeStore, truth: Truth) -> None:
    e: Counter[tuple[str, str, str]] = Counter()
    n: Counter[tuple[str, str, str]] = Counter()
    for res, fac in truth.resources("MedicationRequest"):
        township = truth.fac_unit(fac, "township")
        if not township or res.get("status") in DEAD:
            continue
        key = (township, quarter(res["authoredOn"]), "")
        n[key] += 1
        e[key] += any(
            x["url"] == EXT + "e-prescription" and x["valueBoolean"] for x in res.get("extension", [])
        )
    got = engine_cells(lake_store, "e_prescription_share", "township", "quarter")
    assert n and {k: (e[k], n[k]) for k in n} == got


def test_submission_timeliness_by_facility_and_month(lake_store: LakeStore, truth: Truth) -> None:
    first: dict[tuple[str, str], str] = {}
    for b in truth.session.scalars(select(SubmissionBatch)):
        key = (b.facility, b.month)
        if b.first_sent and (key not in first or b.first_sent < first[key]):
            first[key] = b.first_sent
    expected: dict[tuple[str, str, str], tuple[int, int]] = {}
    for (fac, month), sent in first.items():
        if fac not in truth.facilities or not month.startswith("2025"):
            continue
        y, m = int(month[:4]), int(month[5:])
        deadline = date(y + (m == 12), m % 12 + 1, 10)
        expected[(fac, month, "")] = (int(_d(sent) <= deadline), 1)
    got = engine_cells(lake_store, "submission_timeliness", "facility", "month")
    got = {k: v for k, v in got.items() if k[1].startswith("2025")}
    assert expected and got == expected
    assert any(v[0] == 0 for v in expected.values())  # the province has late batches


def test_family_doctor_contract_rate_by_county(lake_store: LakeStore, truth: Truth) -> None:
    attrs = truth.person_attrs()
    year_end = date(2025, 12, 31)
    died: dict[str, date] = {}
    for res, _ in truth.resources("Patient"):
        if res.get("deceasedDateTime"):
            p, d = truth.person(f"Patient/{res['id']}"), _d(res["deceasedDateTime"])
            died[p] = min(d, died.get(p, d))
    contracted: dict[str, set[str]] = defaultdict(set)
    for res, _ in truth.resources("CareTeam"):
        if res["category"][0]["coding"][0]["code"] != "family-doctor":
            continue
        if res.get("status") in ("entered-in-error", "inactive"):
            continue
        start, end = res["period"].get("start"), res["period"].get("end")
        if (start and _d(start) > year_end) or (end and _d(end) < year_end):
            continue
        person = truth.person(res["subject"]["reference"])
        if person in died and died[person] < year_end:  # a contract ends with its holder
            continue
        county = truth.ancestor(attrs.get(person, {}).get("township"), "county")
        if county:
            contracted[county].add(person)
    population: Counter[str] = Counter()
    for row in _csv(lake_store.province / "registry" / "population.csv"):
        county = truth.ancestor(row["org_unit_code"], "county")
        if county and row["year"] == "2025":
            population[county] += int(row["residents"])
    got = engine_cells(lake_store, "family_doctor_contract_rate", "county", "year")
    expected = {(c, "2025", ""): (len(contracted[c]), population[c]) for c in population}
    assert expected and {k: v for k, v in got.items() if k[1] == "2025"} == expected


def test_hypertension_control_rate_for_the_province(lake_store: LakeStore, truth: Truth) -> None:
    managed = {
        truth.person(res["patient"]["reference"])
        for res, _ in truth.resources("EpisodeOfCare")
        if res["type"][0]["coding"][0]["code"] == "hypertension" and res.get("status") not in DEAD
    }
    attrs = truth.person_attrs()
    managed = {p for p in managed if attrs.get(p, {}).get("township")}
    followup_encounters = {
        res["id"]: truth.person(res["subject"]["reference"])
        for res, _ in truth.resources("Encounter")
        if any(c["code"] == "followup-hypertension" for t in res.get("type", []) for c in t["coding"])
        and res["period"]["start"].startswith("2025")
    }
    seen = set(followup_encounters.values()) & managed
    latest: dict[str, tuple[str, str, bool]] = {}
    for res, _ in truth.resources("Observation"):
        enc = res.get("encounter", {}).get("reference", "").split("/")[-1]
        if res["code"]["coding"][0]["code"] != "85354-9" or enc not in followup_encounters:
            continue
        if not res["effectiveDateTime"].startswith("2025"):
            continue
        comp = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in res["component"]}
        ok = comp["8480-6"] < 140 and comp["8462-4"] < 90
        person = truth.person(res["subject"]["reference"])
        key = (res["effectiveDateTime"], f"Observation/{res['id']}")
        if person not in latest or key > latest[person][:2]:
            latest[person] = (*key, ok)
    controlled = {p for p in seen if p in latest and latest[p][2]}
    got = engine_cells(lake_store, "hypertension_control_rate", "province", "year")
    assert got[("620000", "2025", "")] == (len(controlled), len(seen))
    assert 0 < len(controlled) < len(seen)

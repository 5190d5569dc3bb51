"""The whole catalogue checked against its definitions (issue 21):

- on a province generated without identity or content defects, every indicator at the
  province, prefecture and county levels, for the year and each quarter, equals the same
  definition computed again in plain Python from the files the facilities submitted
  (`truth_indicators.py`): numerator and denominator, to the record;
- on the test province (defects and all), no share passes its bound, every province-level value
  lies in its plausible range (a count per 1,000 residents a year), and so does every
  prefecture's whose denominator rests on enough records to judge;
- small cells are hidden for counts of residents only, not for counts of facilities.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from phip.analytics.catalogue import catalogue
from tests.analytics.truth_indicators import reference, value
from tests.conftest import LakeStore

#: a prefecture's value is judged against the province's plausible range when its denominator
#: rests on at least this many records (smaller samples vary too much to judge)
JUDGED_RECORDS = 200
YEAR = "2025"


def _results(lake: Path) -> list[dict[str, Any]]:
    meta = json.loads((lake / "indicators" / "current.json").read_text(encoding="utf-8"))
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM '{lake / 'indicators' / meta['file']}' WHERE breakdown = ''")
    cols = rel.columns
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


@pytest.fixture(scope="module")
def clean_province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A province of a seed and scale no other test uses, with no identity or content defects
    (late and missing batches stay: they change no record), through the whole pipeline."""
    from dataclasses import fields

    from sqlalchemy.orm import Session

    from phip.analytics import results
    from phip.analytics.compute import compute
    from phip.analytics.facts import publish_facts
    from phip.exchange.ingest import ingest
    from phip.identity.store_link import link_store
    from phip.lake.service import refresh_from_store
    from phip.orgunits import OrgUnitService
    from phip.standards.divisions import get_divisions
    from phip.store import get_engine, init_db
    from phip.synth import SynthConfig, synthesize
    from phip.synth.config import DefectRates

    kept = {"late_batch", "silent_facility"}
    clean = {f.name: 0.0 for f in fields(DefectRates) if f.name not in kept}
    cfg = SynthConfig(scale=0.00006, seed=5).with_overrides({"defects": clean})
    root = tmp_path_factory.mktemp("clean-province")
    province = root / "p"
    synthesize(cfg, province, workers=2)
    url = f"sqlite:///{(root / 'phip.db').as_posix()}"
    engine = get_engine(url)
    init_db(engine)
    lake = root / "lake"
    with Session(engine) as s:
        OrgUnitService(s).load_registry(province / "registry", get_divisions("620000"))
        s.commit()
        ingest(s, province / "submissions", None, workers=2)
        link_store(s, root)
        s.commit()
        refresh_from_store(s, lake)
    publish_facts(lake)
    started = time.perf_counter()
    results.save(lake, compute(lake), "duckdb", time.perf_counter() - started)
    return province, lake


def test_every_indicator_equals_its_definition_computed_from_the_submissions(
    clean_province: tuple[Path, Path],
) -> None:
    province, lake = clean_province
    expected = reference(province)
    got = {
        (r["indicator"], r["level"], r["org_unit"], r["period"]): (
            r["numerator"] or 0.0,
            r["denominator"] or 0.0,
        )
        for r in _results(lake)
        if r["level"] in ("province", "prefecture", "county")
        and r["period_type"] in ("year", "quarter")
        and r["period"].startswith(YEAR)
    }
    checked: dict[str, int] = {}
    wrong = []
    for key in set(got) | {k for k in expected if k[0] in {g[0] for g in got}}:
        num, den = got.get(key, (0.0, 0.0))
        ref_num, ref_den = expected.get(key, (0.0, 0.0))
        if abs(num - ref_num) > 1e-6 * max(1.0, abs(ref_num)) or abs(den - ref_den) > 1e-6 * max(
            1.0, abs(ref_den)
        ):
            wrong.append((key, (num, den), (ref_num, ref_den)))
        checked[key[0]] = checked.get(key[0], 0) + 1
    assert wrong == [], wrong[:10]
    assert set(checked) == set(catalogue()), set(catalogue()) - set(checked)
    # every indicator has a non-zero value somewhere: the comparison is not of empty cells
    nonzero = {k[0] for k, (n, _d) in expected.items() if n}
    assert nonzero == set(catalogue()), set(catalogue()) - nonzero


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _population(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {
        r["org_unit"]: r["denominator"]
        for r in rows
        if r["indicator"] == "ehr_filing_rate" and r["period"] == YEAR and r["denominator"]
    }


def _judged(ind: Any, r: dict[str, Any], population: dict[str, float]) -> float | None:
    if ind.per_resident:
        residents = population.get(r["org_unit"])
        days = 366 if int(YEAR) % 4 == 0 else 365
        return None if not residents else (r["numerator"] or 0.0) / residents * 1000 * 365 / days
    return r["value"]


def test_no_share_passes_its_bound_and_values_are_plausible(lake_store: LakeStore) -> None:
    rows = _results(lake_store.lake)
    cat = catalogue()
    population = _population(rows)
    over = [
        (r["indicator"], r["level"], r["org_unit"], r["period"], r["value"])
        for r in rows
        if r["value"] is not None
        and cat[r["indicator"]].bound is not None
        and r["value"] > cat[r["indicator"]].bound + 1e-9  # type: ignore[operator]
    ]
    assert over == []
    # a prefecture is judged where every facility of it is connected (a value missing a
    # facility's data is reported by the connection rate, not judged) and the denominator rests
    # on enough records
    covered = {
        r["org_unit"]
        for r in rows
        if r["indicator"] == "facility_connection_rate" and r["period"] == YEAR and r["value"] == 100
    }
    implausible = []
    judged = set()
    prefectures = set()
    for r in rows:
        ind = cat[r["indicator"]]
        if r["period"] != YEAR or r["level"] not in ("province", "prefecture"):
            continue
        records = r["denominator_records"] if ind.denominator is not None else r["numerator_records"]
        if r["level"] == "prefecture" and ((records or 0) < JUDGED_RECORDS or r["org_unit"] not in covered):
            continue
        if r["level"] == "prefecture":
            prefectures.add(r["org_unit"])
        v = _judged(ind, r, population)
        if v is None:
            continue
        judged.add(ind.id)
        lo, hi = ind.plausible
        if not lo <= v <= hi:
            implausible.append((ind.id, r["level"], r["org_unit"], round(v, 2), (lo, hi)))
    assert implausible == []
    assert len(prefectures) >= 5  # the check reaches below the province
    # every indicator with a yearly value is judged at the province at least
    yearly = {i.id for i in cat.values() if "year" in i.periods}
    assert judged == yearly, yearly - judged


def test_small_cells_are_hidden_for_residents_not_for_facilities(lake_store: LakeStore) -> None:
    rows = _results(lake_store.lake)
    cat = catalogue()
    facility_counts = [
        r for r in rows if not cat[r["indicator"]].about_people and 1 <= (r["denominator_records"] or 0) <= 4
    ]
    assert facility_counts, "the test province has units with one to four facilities"
    assert not any(r["suppressed"] for r in facility_counts)
    small_people = [
        r
        for r in rows
        if cat[r["indicator"]].about_people
        and (1 <= (r["numerator_records"] or 0) <= 4 or 1 <= (r["denominator_records"] or 0) <= 4)
    ]
    assert small_people and all(r["suppressed"] for r in small_people)
    assert {i for i in cat if not cat[i].about_people} >= {
        "facility_connection_rate",
        "submission_timeliness",
        "referral_facility_coverage",
        "doctors_per_1000",
        "beds_per_1000",
    }


def test_reference_value_formula_matches_the_catalogue() -> None:
    """The reference's value formula (factor, counts) is the catalogue's."""
    for ind in catalogue().values():
        got = value(ind.id, 3.0, 4.0)
        want = 3.0 if ind.denominator is None else 3.0 / 4.0 * ind.factor
        assert got == pytest.approx(want), ind.id

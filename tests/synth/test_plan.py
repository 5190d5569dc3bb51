"""The facility plan at scale 1.0 and its scaled subsets (no residents are generated)."""

from collections import Counter

import pytest

from phip.standards.divisions import get_divisions
from phip.standards.facility import BY_CODE
from phip.standards.statistics import census
from phip.synth.config import CONNECTION_RATES, FULL_FACILITY_COUNTS
from phip.synth.demography import prefecture_shares
from phip.synth.plan import FacilityPlan, full_plan, scaled_plan

D = get_divisions("620000")


@pytest.fixture(scope="module")
def plan() -> FacilityPlan:
    return full_plan(D)


def test_full_scale_counts_are_exact(plan: FacilityPlan) -> None:
    assert plan.counts() == {"hospital": 267, "primary": 1768, "village": 15451}
    assert len(plan.facilities) == 17486


def test_connection_rates_at_full_scale(plan: FacilityPlan) -> None:
    connected = plan.connected_counts()
    for tier, rate in CONNECTION_RATES.items():
        assert connected[tier] == round(FULL_FACILITY_COUNTS[tier] * rate)
    assert connected == {"hospital": 248, "primary": 1574, "village": 14833}
    assert all(f.connected_since is not None for f in plan.facilities if f.connected)
    referral = sum(f.referral_enabled for f in plan.facilities)
    assert referral == round(17486 * 0.75)


def test_codes_are_unique_stable_and_attached_at_their_level(plan: FacilityPlan) -> None:
    assert len({f.code for f in plan.facilities}) == len(plan.facilities)
    again = full_plan(D)
    assert [f.code for f in again.facilities] == [f.code for f in plan.facilities]
    villages = {v.code for v in plan.villages}
    for f in plan.facilities:
        assert BY_CODE[f.type_code].tier == f.tier
        level = BY_CODE[f.type_code].level
        if level == "village":
            assert f.org_unit_code in villages
        else:
            div = D.get(f.org_unit_code)
            assert div is not None and div.level == level
        assert f.code.startswith(f.org_unit_code + "-" + f.type_code)


def test_hospitals_have_grades_and_every_county_has_one(plan: FacilityPlan) -> None:
    hospitals = plan.by_tier("hospital")
    assert all(h.grade_code for h in hospitals)
    levels = Counter(h.grade_code[0] for h in hospitals if h.grade_code)
    assert levels == {"3": 48, "2": 188, "1": 31}  # as documented in docs/synth.md
    counties_with = {h.county_code for h in hospitals}
    assert {c.code for c in D.counties() if c.in_gbt2260} <= counties_with


def test_one_clinic_per_village_and_one_centre_per_rural_township(plan: FacilityPlan) -> None:
    clinic_units = [f.org_unit_code for f in plan.by_tier("village")]
    assert len(clinic_units) == len(set(clinic_units)) == sum(1 for v in plan.villages if v.kind == "village")
    centre_units = {f.org_unit_code for f in plan.by_tier("primary")}
    rural = {t.code for t in D.townships() if t.kind in ("town", "township", "subdistrict")}
    assert rural <= centre_units


@pytest.mark.parametrize("scale", [0.00001, 0.0001, 0.0002, 0.001, 0.01, 0.1])
def test_scaled_plans_keep_the_provinces_shape(plan: FacilityPlan, scale: float) -> None:
    """However small, a province keeps every prefecture, connected and unconnected facilities of
    every tier in the province's shares, and the province's beds and staff per resident."""
    small = scaled_plan(plan, scale)
    prefectures = {p.code for p in D.prefectures()}
    for tier, n_full in FULL_FACILITY_COUNTS.items():
        kept = small.by_tier(tier)
        n = max(len(prefectures), round(n_full * scale))
        assert len(kept) == n
        assert {f.prefecture_code for f in kept} == prefectures
        connected = sum(f.connected for f in kept)
        assert connected == round(n * CONNECTION_RATES[tier])
        assert 0 < connected < n  # both kinds show, at every scale tested
        for attr in ("beds", "staff"):
            full_total = sum(getattr(f, attr) for f in plan.by_tier(tier))
            total = sum(getattr(f, attr) for f in kept)
            expected = round(full_total * scale)
            # exact, but for the floor of one staff member (and one hospital bed) per facility
            assert expected <= total <= expected + n
        assert all(f.staff >= 1 for f in kept)
    grades = {(f.grade_code or "0")[0] for f in small.by_tier("hospital")}
    assert {"3", "2"} <= grades


def test_staff_and_beds_per_resident_hold_at_small_scale(plan: FacilityPlan) -> None:
    """Doctors and beds per 1,000 residents of a 5,000-resident province are the full province's
    (the figures the demo's console shows), not a few hospitals' spread over a few residents."""
    full_staff = sum(f.staff for f in plan.facilities)
    full_beds = sum(f.beds for f in plan.facilities)
    small = scaled_plan(plan, 0.0002)
    assert abs(sum(f.staff for f in small.facilities) / (full_staff * 0.0002) - 1) < 0.25
    assert abs(sum(f.beds for f in small.facilities) / (full_beds * 0.0002) - 1) < 0.1


def test_scaled_plans_do_not_depend_on_anything_but_the_scale(plan: FacilityPlan) -> None:
    a = scaled_plan(plan, 0.001)
    b = scaled_plan(full_plan(D), 0.001)
    assert [(f.code, f.beds, f.staff, f.connected) for f in a.facilities] == [
        (f.code, f.beds, f.staff, f.connected) for f in b.facilities
    ]


def test_prefecture_shares_match_census_at_scale_001() -> None:
    """The residents `phip synth --scale 0.01` would generate, per prefecture (tasks, not people)."""
    from phip.synth.config import SynthConfig
    from phip.synth.context import ProvinceContext
    from phip.synth.runner import plan_tasks

    total = round(census("620000").total * 0.01)
    tasks = plan_tasks(ProvinceContext.build(SynthConfig(scale=0.01)))
    assert sum(t[3] for t in tasks) == total
    by_pref: Counter[str] = Counter()
    for _i, township, _part, n in tasks[1:]:
        by_pref[township[:4] + "00"] += n
    for pref, share in prefecture_shares("620000").items():
        assert abs(by_pref[pref] / total - share) < 0.01, pref

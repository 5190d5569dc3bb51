"""The org-unit tree and facility registry on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from phip.orgunits import Facility, OrgUnit, OrgUnitService
from phip.standards.divisions import get_divisions
from phip.store import init_db, make_engine, session_scope
from tests.conftest import database_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, small_province: Path):  # type: ignore[no-untyped-def]
    db_url = database_url(request, tmp_path_factory.mktemp("db"), "orgunits")
    engine = make_engine(db_url)
    init_db(engine)
    with session_scope(engine) as s:
        counts = OrgUnitService(s).load_registry(small_province / "registry", get_divisions("620000"))
    yield engine, counts
    engine.dispose()


def test_load_counts(loaded) -> None:  # type: ignore[no-untyped-def]
    engine, counts = loaded
    with session_scope(engine) as s:
        svc = OrgUnitService(s)
        by_level = svc.count_units()
        assert by_level["province"] == 1
        assert by_level["prefecture"] == 14
        assert by_level["county"] == 88
        assert by_level["township"] == 1403
        assert by_level["village"] == counts["org_units"] - 1506
        assert s.scalar(select(func.count()).select_from(Facility)) == counts["facilities"]


def test_reload_is_idempotent(loaded, small_province: Path) -> None:  # type: ignore[no-untyped-def]
    engine, _counts = loaded

    def snapshot() -> list[tuple[str, str, str]]:
        with session_scope(engine) as s:
            units = [(u.code, u.name, u.path) for u in s.scalars(select(OrgUnit).order_by(OrgUnit.code))]
            facs = [(f.code, f.name, f.path) for f in s.scalars(select(Facility).order_by(Facility.code))]
        return units + facs

    before = snapshot()
    with session_scope(engine) as s:
        OrgUnitService(s).load_registry(small_province / "registry", get_divisions("620000"))
    assert snapshot() == before


def test_lookups(loaded) -> None:  # type: ignore[no-untyped-def]
    engine, _ = loaded
    with session_scope(engine) as s:
        svc = OrgUnitService(s)
        unit = svc.require("620102001")
        assert (unit.name, unit.level, unit.depth) == ("酒泉路街道", "township", 3)
        assert [a.code for a in svc.ancestors("620102001")] == ["620102", "620100", "620000"]
        assert [c.code for c in svc.children("620100")][:3] == ["620102", "620103", "620104"]
        counties = svc.descendants("620100", "county")
        assert len(counties) == 9 and all(c.level == "county" for c in counties)
        towns = svc.descendants("620102", "township")
        assert len(towns) == 28
        assert all(svc.is_within(t.code, "620100") for t in towns)
        assert not svc.is_within("620102", "620500")
        villages = svc.descendants("620102001", "village")
        assert villages and all(v.parent_code == "620102001" for v in villages)
        assert len(svc.at_level("prefecture")) == 14
        with pytest.raises(ValueError):
            svc.at_level("planet")
        with pytest.raises(KeyError):
            svc.require("999999")


def test_facilities_scoped_by_tree(loaded) -> None:  # type: ignore[no-untyped-def]
    engine, _ = loaded
    with session_scope(engine) as s:
        svc = OrgUnitService(s)
        everything = svc.facilities()
        assert {f.tier for f in everything} == {"hospital", "primary", "village"}
        for f in everything:
            assert f.path.startswith(f"620000/{f.prefecture_code}/{f.county_code}/")
            assert svc.is_within(f.org_unit_code, f.county_code)
            under = svc.facilities(under=f.prefecture_code)
            assert f.code in {g.code for g in under}
        one = everything[0]
        assert svc.facility(one.code) is not None
        other_prefs = {f.prefecture_code for f in everything} - {one.prefecture_code}
        for p in other_prefs:
            assert one.code not in {g.code for g in svc.facilities(under=p)}
        total = svc.count_facilities()
        assert sum(v["total"] for v in total.values()) == len(everything)
        village = svc.facilities(tier="village")
        assert all(svc.require(f.org_unit_code).level == "village" for f in village)


def test_unknown_parent_is_rejected(db_url: str) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    with pytest.raises(ValueError, match="unknown parent"), session_scope(engine) as s:
        OrgUnitService(s).load_units(
            [{"code": "620102999", "name": "x", "level": "township", "parent_code": "620102"}]
        )
    with pytest.raises(ValueError, match="unknown org unit"), session_scope(engine) as s:
        OrgUnitService(s).load_facilities(
            [{"code": "F1", "name": "x", "type_code": "D400", "tier": "village", "org_unit_code": "nowhere"}]
        )
    engine.dispose()


def test_facility_locations_are_loaded_when_given_and_valid(tmp_path, small_province) -> None:  # type: ignore[no-untyped-def]
    """A registry's longitude and latitude are kept when both are numbers on the earth; a missing,
    malformed or impossible one leaves the facility without a location (and loaded all the same)."""
    import csv

    from phip.orgunits import geo
    from phip.orgunits.models import Facility

    engine = make_engine(f"sqlite:///{tmp_path / 'loc.db'}")
    init_db(engine)
    with open(small_province / "registry" / "facilities.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert all(r["longitude"] and r["latitude"] for r in rows)  # the synthetic registry gives them
    bad = {0: ("", ""), 1: ("104.1", "nan"), 2: ("200", "35"), 3: ("east", "35")}
    for i, (x, y) in bad.items():
        rows[i]["longitude"], rows[i]["latitude"] = x, y
    with session_scope(engine) as s:
        svc = OrgUnitService(s)
        with open(small_province / "registry" / "org_units.csv", encoding="utf-8") as f:
            svc.load_units(csv.DictReader(f))
        assert svc.load_facilities(rows) == len(rows)
    with session_scope(engine) as s:
        located = {f.code: f for f in s.scalars(select(Facility))}
    for i, r in enumerate(rows):
        f = located[r["code"]]
        if i in bad:
            assert f.longitude is None and f.latitude is None, r["code"]
        else:
            assert (f.longitude, f.latitude) == (float(r["longitude"]), float(r["latitude"]))
            county = geo.region("620000", r["county_code"])
            assert county is not None and geo.contains(county["geometry"], f.longitude, f.latitude)

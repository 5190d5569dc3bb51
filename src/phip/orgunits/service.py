"""Loading and querying the org-unit tree and the facility registry."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.orgunits.models import Facility, OrgUnit, Population
from phip.standards.divisions import LEVEL_DEPTH, LEVELS, Divisions
from phip.store.db import upsert

ORG_UNIT_COLUMNS = ("code", "name", "level", "parent_code", "kind", "in_gbt2260")
FACILITY_COLUMNS = (
    "code",
    "name",
    "type_code",
    "tier",
    "grade_code",
    "org_unit_code",
    "beds",
    "staff",
    "connected",
    "connected_since",
    "referral_enabled",
)


def _truthy(v: str | bool) -> bool:
    return v is True or str(v).lower() in ("1", "true", "yes")


def division_rows(divisions: Divisions) -> list[dict[str, Any]]:
    return [
        {
            "code": d.code,
            "name": d.name,
            "level": d.level,
            "parent_code": d.parent,
            "kind": d.kind,
            "in_gbt2260": d.in_gbt2260,
        }
        for d in divisions
    ]


def _location(lon: Any, lat: Any) -> dict[str, float | None]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        return {"longitude": None, "latitude": None}
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        return {"longitude": None, "latitude": None}
    return {"longitude": x, "latitude": y}


class OrgUnitService:
    """Plain functions over one session; every domain reaches the tree through this."""

    def __init__(self, session: Session):
        self.session = session

    # ---- loading ---------------------------------------------------------------------------------
    def load_units(self, rows: Iterable[dict[str, Any]]) -> int:
        """Upsert org units (any order; parents are resolved within the batch or the table)."""
        rows = list(rows)
        known = {u.code: u.path for u in self.session.scalars(select(OrgUnit))}
        pending = {r["code"]: r for r in rows}
        out: list[dict[str, Any]] = []
        paths = dict(known)
        for r in sorted(rows, key=lambda r: (LEVEL_DEPTH[r["level"]], r["code"])):
            parent = r.get("parent_code") or None
            if parent and parent not in paths:
                if parent in pending:
                    raise ValueError(f"org unit {r['code']} listed before its parent {parent}")
                raise ValueError(f"org unit {r['code']} has unknown parent {parent}")
            path = (paths[parent] if parent else "") + r["code"] + "/"
            paths[r["code"]] = path
            out.append(
                {
                    "code": r["code"],
                    "name": r["name"],
                    "level": r["level"],
                    "depth": LEVEL_DEPTH[r["level"]],
                    "parent_code": parent,
                    "path": path,
                    "kind": r.get("kind") or "",
                    "in_gbt2260": _truthy(r.get("in_gbt2260", True)),
                }
            )
        by_depth: dict[int, list[dict[str, Any]]] = {}
        for row in out:
            by_depth.setdefault(row["depth"], []).append(row)
        for depth in sorted(by_depth):
            upsert(self.session, OrgUnit.__table__, by_depth[depth], ["code"])
        self.session.flush()
        return len(out)

    def load_divisions(self, divisions: Divisions) -> int:
        return self.load_units(division_rows(divisions))

    def load_facilities(self, rows: Iterable[dict[str, Any]]) -> int:
        """Facilities of the registry (a location only when both coordinates are given and lie
        on the earth; a facility without one is loaded all the same)."""
        units = {
            u.code: (u.path, u.level)
            for u in self.session.execute(select(OrgUnit.code, OrgUnit.path, OrgUnit.level))
        }
        out = []
        for r in rows:
            unit = units.get(r["org_unit_code"])
            if unit is None:
                raise ValueError(f"facility {r['code']} is attached to unknown org unit {r['org_unit_code']}")
            path = unit[0]
            parts = path.strip("/").split("/")
            since = r.get("connected_since") or None
            out.append(
                {
                    "code": r["code"],
                    "name": r["name"],
                    "type_code": r["type_code"],
                    "tier": r["tier"],
                    "grade_code": r.get("grade_code") or None,
                    "org_unit_code": r["org_unit_code"],
                    "path": path,
                    "county_code": parts[2] if len(parts) > 2 else "",
                    "prefecture_code": parts[1] if len(parts) > 1 else "",
                    "beds": int(r.get("beds") or 0),
                    "staff": int(r.get("staff") or 0),
                    "connected": _truthy(r.get("connected", False)),
                    "connected_since": date.fromisoformat(since) if isinstance(since, str) else since,
                    "referral_enabled": _truthy(r.get("referral_enabled", False)),
                    **_location(r.get("longitude"), r.get("latitude")),
                }
            )
        upsert(self.session, Facility.__table__, out, ["code"])
        self.session.flush()
        return len(out)

    def load_registry(self, folder: Path, divisions: Divisions | None = None) -> dict[str, int]:
        """Load a registry folder (`org_units.csv`, `facilities.csv` and, when present,
        `population.csv`, as `phip synth` writes it)."""
        counts = {"divisions": self.load_divisions(divisions) if divisions is not None else 0}
        with open(folder / "org_units.csv", encoding="utf-8") as f:
            counts["org_units"] = self.load_units(csv.DictReader(f))
        with open(folder / "facilities.csv", encoding="utf-8") as f:
            counts["facilities"] = self.load_facilities(csv.DictReader(f))
        if (folder / "population.csv").exists():
            with open(folder / "population.csv", encoding="utf-8") as f:
                counts["population"] = self.load_population(csv.DictReader(f))
        return counts

    def load_population(self, rows: Iterable[dict[str, Any]]) -> int:
        """Load resident population rows (`org_unit_code,year,sex,age_group,residents`); a row
        for an existing (unit, year, sex, age group) replaces it."""
        out = [
            {
                "org_unit_code": r["org_unit_code"],
                "year": int(r["year"]),
                "sex": r["sex"],
                "age_group": r["age_group"],
                "residents": int(r["residents"]),
            }
            for r in rows
        ]
        upsert(self.session, Population.__table__, out, ["org_unit_code", "year", "sex", "age_group"])
        self.session.flush()
        return len(out)

    # ---- queries ---------------------------------------------------------------------------------
    def get(self, code: str) -> OrgUnit | None:
        return self.session.get(OrgUnit, code)

    def require(self, code: str) -> OrgUnit:
        unit = self.get(code)
        if unit is None:
            raise KeyError(f"unknown org unit {code}")
        return unit

    def ancestors(self, code: str) -> list[OrgUnit]:
        """From the parent up to the root."""
        unit = self.require(code)
        codes = unit.path.strip("/").split("/")[:-1]
        found = {u.code: u for u in self.session.scalars(select(OrgUnit).where(OrgUnit.code.in_(codes)))}
        return [found[c] for c in reversed(codes)]

    def children(self, code: str) -> list[OrgUnit]:
        return list(
            self.session.scalars(select(OrgUnit).where(OrgUnit.parent_code == code).order_by(OrgUnit.code))
        )

    def descendants(self, code: str, level: str | None = None) -> list[OrgUnit]:
        """All units below `code` (not itself), optionally only those at `level`."""
        unit = self.require(code)
        q = select(OrgUnit).where(OrgUnit.path.startswith(unit.path, autoescape=True), OrgUnit.code != code)
        if level is not None:
            q = q.where(OrgUnit.level == level)
        return list(self.session.scalars(q.order_by(OrgUnit.path)))

    def at_level(self, level: str) -> list[OrgUnit]:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level}; one of {', '.join(LEVELS)}")
        return list(
            self.session.scalars(select(OrgUnit).where(OrgUnit.level == level).order_by(OrgUnit.code))
        )

    def is_within(self, code: str, scope: str) -> bool:
        """True if org unit `code` is `scope` or lies below it."""
        unit, top = self.require(code), self.require(scope)
        return unit.path.startswith(top.path)

    def facility(self, code: str) -> Facility | None:
        return self.session.get(Facility, code)

    def facilities(
        self, under: str | None = None, tier: str | None = None, type_code: str | None = None
    ) -> list[Facility]:
        q = select(Facility)
        if under is not None:
            q = q.where(Facility.path.startswith(self.require(under).path, autoescape=True))
        if tier is not None:
            q = q.where(Facility.tier == tier)
        if type_code is not None:
            q = q.where(Facility.type_code == type_code)
        return list(self.session.scalars(q.order_by(Facility.code)))

    def count_units(self) -> dict[str, int]:
        rows = self.session.execute(select(OrgUnit.level, func.count()).group_by(OrgUnit.level))
        return {level: n for level, n in rows}

    def count_facilities(self, under: str | None = None) -> dict[str, dict[str, int]]:
        """{tier: {"total": n, "connected": m}}"""
        q = select(Facility.tier, Facility.connected, func.count()).group_by(
            Facility.tier, Facility.connected
        )
        if under is not None:
            q = q.where(Facility.path.startswith(self.require(under).path, autoescape=True))
        out: dict[str, dict[str, int]] = {}
        for tier, connected, n in self.session.execute(q):
            d = out.setdefault(tier, {"total": 0, "connected": 0})
            d["total"] += n
            if connected:
                d["connected"] += n
        return out

"""Reporting completeness and timeliness (DHIS2's reporting rates): for the caller's area and a
period, the batches owed, received and received on time; a map of the units below coloured by
reporting rate, the last twelve months as a chart, the units below as a table, and each
facility's months (on time, late, missing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.analytics import relative, reporting, results
from phip.lake.manifest import LakeError, read_manifest
from phip.orgunits.models import Facility, OrgUnit
from phip.web.console.base import Ctx, page_context, render
from phip.web.deps import SessionDep
from phip.web.indicators_router import scope_of

router = APIRouter(include_in_schema=False)
RATE, ON_TIME = "reporting_rate", "reporting_rate_on_time"
PERIOD_TYPES = ("month", "quarter", "year")
CHILD = {"province": "prefecture", "prefecture": "county", "county": "township", "township": "facility"}
#: facilities listed with their months (the rest are counted)
FACILITY_ROWS = 300


@dataclass(frozen=True)
class Counts:
    expected: int
    received: int
    on_time: int

    @property
    def rate(self) -> float | None:
        return self.received / self.expected * 100 if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.expected * 100 if self.expected else None


def _rows(ctx: Ctx, indicator: str, **where: Any) -> list[dict[str, Any]]:
    scope_unit, scope_facility = scope_of(ctx.access)
    filt = results.Filter(
        indicator, breakdown="", scope_unit=scope_unit, scope_facility=scope_facility, **where
    )
    try:
        return results.query(ctx.settings.resolved_lake_dir(), filt, ctx.t.locale)
    except LakeError:
        return []


def _counts(rate: dict[str, Any] | None, on_time: dict[str, Any] | None) -> Counts | None:
    if rate is None or rate["denominator"] is None:
        return None
    return Counts(
        int(rate["denominator"]), int(rate["numerator"] or 0), int((on_time or {}).get("numerator") or 0)
    )


def months_of(period_type: str, period: str) -> list[str]:
    """The months (YYYY-MM) a month, quarter or year label covers."""
    if period_type == "month":
        return [period]
    year = int(period[:4])
    if period_type == "quarter":
        q = int(period[5:])
        return [f"{year:04d}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
    return [f"{year:04d}-{m:02d}" for m in range(1, 13)]


def facility_grid(ctx: Ctx, codes: list[str], months: list[str], as_of: date) -> dict[str, dict[str, str]]:
    """facility → month → 'on_time' / 'late' / 'missing' for the months it owed a batch."""
    lake = ctx.settings.resolved_lake_dir()
    manifest = read_manifest(lake)
    if manifest is None or "facility" not in manifest.tables or not codes:
        return {}
    con = duckdb.connect()
    try:
        reporting.facility_months(con, lake, manifest, as_of)
        rows = con.execute(
            "SELECT code, month, received, on_time FROM owed "
            "WHERE list_contains(?::VARCHAR[], code) AND list_contains(?::VARCHAR[], month)",
            [codes, months],
        ).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, str]] = {}
    for code, month, received, on_time in rows:
        out.setdefault(code, {})[month] = "on_time" if on_time else "late" if received else "missing"
    return out


def _area(ctx: Ctx, code: str | None) -> OrgUnit | None:
    home = ctx.home_unit()
    if home is None:
        return None
    unit = ctx.unit_in_scope(code or home)
    if unit is None:
        raise ctx.deny("console-reporting", f"org-unit:{code}", ctx.t("forbidden_text"))
    return unit


def _trail(ctx: Ctx, area: OrgUnit | None) -> list[OrgUnit]:
    if area is None:
        return []
    home = ctx.session.get(OrgUnit, ctx.home_unit() or "")
    codes = [c for c in area.path.strip("/").split("/") if c]
    start = len(home.path.strip("/").split("/")) - 1 if home else 0
    return [u for u in (ctx.session.get(OrgUnit, c) for c in codes[start:]) if u is not None]


@router.get("/reporting")
def reporting_page(
    request: Request,
    unit: str | None = None,
    period_type: str = "month",
    period: str | None = None,
    session: Session = SessionDep,
) -> Response:
    ctx = page_context(request, session, "reporting")
    area = _area(ctx, unit)
    own = ctx.facility_view()
    ptype = period_type if period_type in PERIOD_TYPES else "month"
    as_of = ctx.settings.as_of or date.today()
    try:
        available = results.periods(ctx.settings.resolved_lake_dir(), RATE, ptype)
    except LakeError:
        available = []
    chosen = period if period in available else relative.default(available, ptype, as_of)
    level, code = ("facility", own) if area is None else (area.level, area.code)
    here = {
        ind: {r["period"]: r for r in _rows(ctx, ind, level=level, org_unit=code, period_type="month")}
        for ind in (RATE, ON_TIME)
    }
    trend = sorted(here[RATE])[-12:]
    chart = {
        "kind": "line",
        "title": ctx.t("reporting_by_month"),
        "labels": trend,
        "unit": "%",
        "series": [
            {"name": ctx.t("reporting_rate"), "values": [here[RATE][m]["value"] for m in trend]},
            {
                "name": ctx.t("reporting_on_time"),
                "values": [(here[ON_TIME].get(m) or {}).get("value") for m in trend],
            },
        ],
    }
    summary = children = None
    facilities: list[dict[str, Any]] = []
    months: list[str] = []
    more = 0
    if chosen:
        at = {
            ind: _rows(ctx, ind, level=level, org_unit=code, period_type=ptype, period=chosen)
            for ind in (RATE, ON_TIME)
        }
        summary = _counts(next(iter(at[RATE]), None), next(iter(at[ON_TIME]), None))
        if area is not None and area.level in CHILD:
            below = {
                ind: {
                    r["org_unit"]: r
                    for r in _rows(
                        ctx, ind, level=CHILD[area.level], parent=area.code, period_type=ptype, period=chosen
                    )
                }
                for ind in (RATE, ON_TIME)
            }
            children = [
                {"code": c, "name": r["org_unit_name"], "counts": _counts(r, below[ON_TIME].get(c))}
                for c, r in below[RATE].items()
            ]
            children.sort(
                key=lambda x: x["counts"].rate if x["counts"] and x["counts"].rate is not None else 999
            )
        months = months_of(ptype, chosen)
        q = select(Facility).where(Facility.connected.is_(True)).order_by(Facility.county_code, Facility.code)
        if own is not None:
            q = q.where(Facility.code == own)
        elif area is not None:
            q = q.where(Facility.path.startswith(area.path, autoescape=True))
        listed = list(session.scalars(q))
        grid = facility_grid(ctx, [f.code for f in listed], months, as_of)
        # facilities that missed or were late first, then the rest
        listed.sort(key=lambda f: (-sum(v != "on_time" for v in grid.get(f.code, {}).values()), f.code))
        more = max(0, len(listed) - FACILITY_ROWS)
        facilities = [
            {"code": f.code, "name": f.name, "months": grid.get(f.code, {})} for f in listed[:FACILITY_ROWS]
        ]
    ctx.access.log("console-reporting", f"org-unit:{code}")
    session.commit()
    return render(
        ctx,
        "reporting.html",
        area=area,
        trail=_trail(ctx, area),
        period_type=ptype,
        period_types=PERIOD_TYPES,
        period=chosen,
        periods=available,
        ended=bool(chosen) and relative.ended(ptype, chosen or "", as_of),
        summary=summary,
        children=children,
        child_level=CHILD.get(area.level) if area is not None else None,
        chart=chart,
        months=months,
        facilities=facilities,
        more=more,
        indicators=[RATE, ON_TIME],
    )

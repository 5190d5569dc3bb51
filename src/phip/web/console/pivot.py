"""The pivot table (DHIS2's Data Visualizer): one indicator with org units, periods and a
breakdown's categories laid out as rows × columns, the third a filter; several units (the units
below one, chosen on the tree) and several periods (the last N that have ended) at once; totals
that are the indicator's own values for the parent unit, the year or all categories (never sums
of rates); a grouped or stacked chart with the target line; the same periods a year before."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.analytics import relative, results
from phip.analytics.catalogue import LEVELS, Indicator, catalogue
from phip.analytics.exports import describe
from phip.lake.manifest import LakeError
from phip.orgunits.models import OrgUnit
from phip.web.console.base import Ctx, page_context, render
from phip.web.console.explorer import computed_at
from phip.web.deps import SessionDep
from phip.web.indicators_router import scope_of

router = APIRouter(include_in_schema=False)
DIMENSIONS = ("unit", "period", "category")
COUNTS = (4, 8, 12)
DEFAULT_INDICATOR = "outpatient_visits"


@dataclass(frozen=True)
class Axis:
    dim: str
    keys: list[str]
    labels: dict[str, str]
    total: str | None  # the key of the total (the parent unit, the year, all categories)


def _rows(ctx: Ctx, **where: Any) -> list[dict[str, Any]]:
    scope_unit, scope_facility = scope_of(ctx.access)
    filt = results.Filter(scope_unit=scope_unit, scope_facility=scope_facility, **where)
    try:
        return results.query(ctx.settings.resolved_lake_dir(), filt, ctx.t.locale)
    except LakeError:
        return []


def _child_level(ind: Indicator, level: str) -> str | None:
    below = [lv for lv in ind.levels if LEVELS.index(lv) > LEVELS.index(level)] if level in LEVELS else []
    return below[0] if below else None


def _year_of(periods: list[str], ptype: str) -> str | None:
    """The year all `periods` lie in, when they are its months or quarters."""
    years = {p[:4] for p in periods}
    return years.pop() if ptype in ("month", "quarter") and len(years) == 1 else None


def _previous_year(period: str) -> str:
    return f"{int(period[:4]) - 1:04d}{period[4:]}"


def pivot(
    ctx: Ctx,
    ind: Indicator,
    unit: OrgUnit,
    ptype: str,
    count: int,
    breakdown: str,
    rows_dim: str,
    cols_dim: str,
    fixed_period: str | None,
    yoy: bool,
) -> dict[str, Any]:
    """The cells of the table: {(row key, column key): result row} with both axes."""
    lake = ctx.settings.resolved_lake_dir()
    as_of = ctx.settings.as_of or date.today()
    try:
        available = results.periods(lake, ind.id, ptype)
    except LakeError:
        available = []
    ended = [p for p in available if relative.ended(ptype, p, as_of)] or available
    uses = {rows_dim, cols_dim}
    periods = sorted(ended[:count]) if "period" in uses else [fixed_period or (ended[0] if ended else "")]
    periods = [p for p in periods if p]
    wanted = list(periods) + ([_previous_year(p) for p in periods] if yoy else [])
    year = _year_of(periods, ptype) if "period" in uses else None
    child = _child_level(ind, unit.level) if "unit" in uses else None
    bd = breakdown if "category" in uses and breakdown else ""
    found: list[dict[str, Any]] = []
    for ptype_, keep in ((ptype, set(wanted)), ("year", {year} if year else set())):
        if not keep:
            continue
        where = {"indicator": ind.id, "period_type": ptype_, "breakdown": None}
        found += [
            r
            for r in _rows(ctx, level=unit.level, org_unit=unit.code, **where)
            + (_rows(ctx, level=child, parent=unit.code, **where) if child else [])
            if r["period"] in keep
        ]
    found = [r for r in found if r["breakdown"] in ("", bd)]
    cell: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in found:
        cat = (r["category"] or "") if r["breakdown"] == bd and bd else ""
        cell[(r["org_unit"], r["period"], cat)] = r
    units = sorted({r["org_unit"] for r in found if r["org_unit"] != unit.code and r["period"] in periods})
    names = {r["org_unit"]: r["org_unit_name"] for r in found}
    cats = sorted({(r["category"] or "") for r in found if r["breakdown"] == bd and bd})
    axes = {
        "unit": Axis("unit", units, {u: names.get(u, u) for u in units}, unit.code)
        if child
        else Axis("unit", [unit.code], {unit.code: unit.name}, None),
        "period": Axis("period", periods, {p: p for p in periods}, year),
        "category": Axis("category", cats, {c: ctx.t.category(bd, c) for c in cats}, "")
        if bd
        else Axis("category", [""], {"": ctx.t("total")}, None),
    }
    fixed = {d: axes[d].keys[0] if axes[d].keys else "" for d in DIMENSIONS if d not in uses}
    if "unit" in fixed:
        fixed["unit"] = unit.code
    if "category" in fixed:
        fixed["category"] = ""
    labels = {**axes["unit"].labels, unit.code: unit.name}

    def at(coords: dict[str, str], period_shift: bool = False) -> dict[str, Any] | None:
        u, p, c = coords["unit"], coords["period"], coords["category"]
        return cell.get((u, _previous_year(p) if period_shift else p, c))

    def coords(rk: str, ck: str) -> dict[str, str]:
        return {**fixed, rows_dim: rk, cols_dim: ck}

    row_axis, col_axis = axes[rows_dim], axes[cols_dim]
    row_keys = row_axis.keys + ([row_axis.total] if row_axis.total is not None else [])
    col_keys = col_axis.keys + ([col_axis.total] if col_axis.total is not None else [])

    def label(axis: Axis, key: str) -> str:
        if key == axis.total:
            return ctx.t("total") + ("" if axis.dim != "unit" else f" · {labels.get(key, key)}")
        return axis.labels.get(key, key)

    table = [
        {
            "key": rk,
            "label": label(row_axis, rk),
            "total": rk == row_axis.total,
            "cells": [
                {
                    "row": at(coords(rk, ck)),
                    "before": at(coords(rk, ck), True)
                    if yoy and cols_dim == "period" and ck != col_axis.total
                    else None,
                    "total": ck == col_axis.total,
                }
                for ck in col_keys
            ],
        }
        for rk in row_keys
    ]
    series = [
        {
            "name": label(col_axis, ck),
            "values": [(at(coords(rk, ck)) or {}).get("value") for rk in row_axis.keys],
        }
        for ck in col_axis.keys
    ]
    return {
        "columns": [
            {"key": ck, "label": label(col_axis, ck), "total": ck == col_axis.total} for ck in col_keys
        ],
        "table": table,
        "chart": {"labels": [label(row_axis, rk) for rk in row_axis.keys], "series": series},
        "periods": periods,
        "fixed": {d: (labels.get(v, v) if d == "unit" else v or ctx.t("total")) for d, v in fixed.items()},
    }


@router.get("/explorer/pivot")
def pivot_page(
    request: Request,
    indicator: str = DEFAULT_INDICATOR,
    unit: str | None = None,
    period_type: str | None = None,
    count: int = 4,
    period: str | None = None,
    breakdown: str = "",
    rows: str = "unit",
    columns: str = "period",
    chart: str = "bar",
    yoy: bool = False,
    session: Session = SessionDep,
) -> Response:
    ctx = page_context(request, session, "explorer")
    if ctx.facility_view() is not None:
        raise ctx.deny("console-pivot", "console", ctx.t("forbidden_text"))
    ind = catalogue().get(indicator) or catalogue()[DEFAULT_INDICATOR]
    home = ctx.home_unit() or ""
    area = ctx.unit_in_scope(unit or home)
    if area is None:
        raise ctx.deny("console-pivot", f"org-unit:{unit}", ctx.t("forbidden_text"))
    ptype = period_type if period_type in ind.periods and period_type != "day" else ind.periods[-1]
    rows_dim = rows if rows in DIMENSIONS else "unit"
    cols_dim = (
        columns
        if columns in DIMENSIONS and columns != rows_dim
        else next(d for d in DIMENSIONS if d != rows_dim)
    )
    bd = breakdown if breakdown in ind.breakdowns else ""
    if "category" in (rows_dim, cols_dim) and not bd:
        bd = ind.breakdowns[0] if ind.breakdowns else ""
    data = pivot(ctx, ind, area, ptype, count if count in COUNTS else 4, bd, rows_dim, cols_dim, period, yoy)
    trail = [u for u in (session.get(OrgUnit, c) for c in area.path.strip("/").split("/")) if u is not None]
    start = next((i for i, u in enumerate(trail) if u.code == home), 0)
    children = (
        list(session.scalars(select(OrgUnit).where(OrgUnit.parent_code == area.code).order_by(OrgUnit.code)))
        if area.level in ("province", "prefecture", "county")
        else []
    )
    spec = {
        "kind": "bar",
        "stack": chart == "stacked",
        "labels": data["chart"]["labels"],
        "series": data["chart"]["series"],
        "unit": ind.unit,
        "target": ind.target,
        "title": ind.name[ctx.t.lang],
    }
    ctx.access.log("console-pivot", f"indicator:{ind.id}")
    session.commit()

    def request_query(**changes: str) -> str:
        return urlencode({**dict(request.query_params), **changes})

    return render(
        ctx,
        "pivot.html",
        request_query=request_query,
        ind=ind,
        indicators=[i for i in catalogue().values() if i.levels[0] != "facility"],
        area=area,
        trail=trail[start:],
        children=children,
        period_type=ptype,
        count=count,
        breakdown=bd,
        rows=rows_dim,
        columns=cols_dim,
        dimensions=DIMENSIONS,
        chart=chart,
        yoy=yoy,
        data=data,
        spec=json.dumps(spec, ensure_ascii=False),
        meta=describe(ind.id, ctx.t.locale, computed_at(ctx)),
        counts=COUNTS,
    )

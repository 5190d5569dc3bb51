"""The indicator explorer: indicator × level × period × breakdown as a table and a chart, with
numerator and denominator, exported as CSV or Excel through `/api/indicators`."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from phip.analytics import relative, results
from phip.analytics.catalogue import LEVELS, catalogue
from phip.analytics.exports import describe
from phip.lake.manifest import LakeError
from phip.orgunits.models import OrgUnit
from phip.web.console.base import Ctx, page_context, render
from phip.web.console.overview import DEFAULT_INDICATOR, period_type_for
from phip.web.deps import SessionDep
from phip.web.indicators_router import scope_of

router = APIRouter(include_in_schema=False)
MAX_ROWS = 2000


def _levels(ctx: Ctx, indicator: str) -> list[str]:
    """The indicator's levels the caller can see (theirs and below)."""
    levels = list(catalogue()[indicator].levels)
    if ctx.facility_view() is not None:
        return [lv for lv in levels if lv == "facility"]
    home = ctx.session.get(OrgUnit, ctx.home_unit() or "")
    if home is None:
        return levels
    return [lv for lv in levels if LEVELS.index(lv) >= LEVELS.index(home.level)]


def _as_of(ctx: Ctx) -> date:
    return ctx.settings.as_of or date.today()


def _choices(ctx: Ctx, q: dict[str, str | None]) -> dict[str, Any]:
    ind = q.get("indicator") if q.get("indicator") in catalogue() else DEFAULT_INDICATOR
    assert ind is not None
    cat = catalogue()[ind]
    levels = _levels(ctx, ind)
    # by default one level below the caller's own: the province sees its prefectures
    default = levels[1] if len(levels) > 1 else (levels[0] if levels else None)
    level = q.get("level") if q.get("level") in levels else default
    ptype = period_type_for(ind, q.get("period_type"))
    try:
        periods = results.periods(ctx.settings.resolved_lake_dir(), ind, ptype)
    except LakeError:
        periods = []
    # by default the last period that has ended (the running one is not complete)
    fallback = relative.default(periods, ptype, _as_of(ctx))
    period = q.get("period") if q.get("period") in periods else fallback
    breakdown = q.get("breakdown") if q.get("breakdown") in cat.breakdowns else ""
    return {
        "indicator": ind,
        "cat": cat,
        "levels": levels,
        "level": level,
        "period_types": list(cat.periods),
        "period_type": ptype,
        "periods": periods,
        "period": period,
        "breakdowns": list(cat.breakdowns),
        "breakdown": breakdown,
        "meta": describe(ind, ctx.t.locale, computed_at(ctx)),
    }


def computed_at(ctx: Ctx) -> str | None:
    """When the indicators shown were computed (None before the first computation)."""
    try:
        return str(results.current(ctx.settings.resolved_lake_dir())["computed_at"])
    except LakeError:
        return None


def _table(ctx: Ctx, c: dict[str, Any]) -> dict[str, Any]:
    scope_unit, scope_facility = scope_of(ctx.access)
    rows: list[dict[str, Any]] = []
    if c["level"] and c["period"]:
        filt = results.Filter(
            c["indicator"],
            c["level"],
            None,
            None,
            c["period_type"],
            c["period"],
            c["breakdown"],
            scope_unit,
            scope_facility,
        )
        try:
            rows = results.query(ctx.settings.resolved_lake_dir(), filt, ctx.t.locale, MAX_ROWS + 1)
        except LakeError:
            rows = []
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    # whether the period is over is judged today (the reports a cell rests on were counted when
    # the indicators were computed)
    as_of = _as_of(ctx)
    for r in rows:
        r["period_open"] = not relative.ended(r["period_type"], r["period"], as_of)
    unit = c["cat"].unit
    labels = [
        f"{r['org_unit_name'] or r['org_unit']}"
        + (f" · {ctx.t.category(r['breakdown'], r['category'])}" if r["category"] else "")
        for r in rows
    ]
    chart = {
        "labels": labels[:60],
        "values": [r["value"] for r in rows][:60],
        "unit": unit,
        "name": c["cat"].name[ctx.t.lang],
    }
    query = {
        "indicator": c["indicator"],
        "level": c["level"] or "",
        "period_type": c["period_type"],
        "period": c["period"] or "",
        "breakdown": c["breakdown"],
        "lang": ctx.t.locale,
        "labels": "true",  # a file for people: headers, categories and units in words
    }
    return {
        "rows": rows,
        "truncated": truncated,
        "chart": json.dumps(chart, ensure_ascii=False),
        "export_csv": "/api/indicators?" + urlencode({**query, "format": "csv"}),
        "export_xlsx": "/api/indicators?" + urlencode({**query, "format": "xlsx"}),
    }


def _query(request: Request) -> dict[str, str | None]:
    keys = ("indicator", "level", "period_type", "period", "breakdown")
    return {k: request.query_params.get(k) for k in keys}


def _show(request: Request, session: Session, template: str) -> Response:
    ctx = page_context(request, session, "explorer")
    c = _choices(ctx, _query(request))
    table = _table(ctx, c)
    _audit(ctx, c)
    return render(ctx, template, c=c, table=table, indicators=list(catalogue().values()))


@router.get("/explorer")
def explorer(request: Request, session: Session = SessionDep) -> Response:
    return _show(request, session, "explorer.html")


@router.get("/explorer/table")
def explorer_table(request: Request, session: Session = SessionDep) -> Response:
    """The form and result for HTMX (the choices depend on each other, so both are redrawn)."""
    return _show(request, session, "explorer_body.html")


def _audit(ctx: Ctx, c: dict[str, Any]) -> None:
    ctx.access.log("console-explorer", f"indicators:{c['indicator']}")
    ctx.session.commit()

"""The province overview: key figures, a map of the caller's area coloured by any indicator with
drill-down (province → prefectures → counties), and the indicator's trend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from phip.analytics import relative, results
from phip.analytics.catalogue import LEVELS, catalogue
from phip.lake.manifest import LakeError
from phip.orgunits import geo
from phip.orgunits.models import Facility, OrgUnit, Population
from phip.quality import connection
from phip.web.console.base import Ctx, context, page_context, render
from phip.web.deps import SessionDep
from phip.web.indicators_router import scope_of

router = APIRouter(include_in_schema=False)
DEFAULT_INDICATOR = "ehr_filing_rate"
#: a facility's home opens on its own activity
FACILITY_INDICATOR = "outpatient_visits"
CHILD = {"province": "prefecture", "prefecture": "county", "county": "township"}


def _indicator(name: str | None) -> str:
    return name if name in catalogue() else DEFAULT_INDICATOR


def period_type_for(indicator: str, wanted: str | None = None) -> str:
    """The period type shown by default: the wanted one if the indicator has it, else the
    coarsest it has (a map shows a year or a quarter, not a day)."""
    types = catalogue()[indicator].periods
    return wanted if wanted in types else types[-1]


def key_figures(ctx: Ctx, unit: OrgUnit | None) -> dict[str, Any]:
    """Residents (the statistics bureau's latest year), facilities connected by tier, and records
    received this month, within the caller's area (or their facility)."""
    s = ctx.session
    own = ctx.facility_view()
    path = unit.path if unit is not None else None
    fac_q = select(Facility.tier, func.count(), func.sum(case((Facility.connected, 1), else_=0)))
    residents = None
    codes: list[str] | None = None
    if own is not None:
        fac_q = fac_q.where(Facility.code == own)
        codes = [own]
    elif path is not None:
        fac_q = fac_q.where(Facility.path.startswith(path, autoescape=True))
        if unit is not None and unit.level != "province":
            within = Facility.path.startswith(path, autoescape=True)
            codes = list(s.scalars(select(Facility.code).where(within)))
        year = s.scalar(select(func.max(Population.year)))
        if year is not None:
            residents = s.scalar(
                select(func.sum(Population.residents))
                .join(OrgUnit, OrgUnit.code == Population.org_unit_code)
                .where(Population.year == year, OrgUnit.path.startswith(path, autoescape=True))
            )
    tiers = {tier: (int(n), int(c or 0)) for tier, n, c in s.execute(fac_q.group_by(Facility.tier)).all()}
    first = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return {
        "residents": residents,
        "tiers": [
            {"tier": t, "connected": tiers.get(t, (0, 0))[1], "total": tiers.get(t, (0, 0))[0]}
            for t in ("hospital", "primary", "village")
        ],
        "records_month": connection.records_received(ctx.settings.resolved_lake_dir(), first, codes),
    }


def _unit(ctx: Ctx, code: str | None) -> OrgUnit | None:
    home = ctx.home_unit()
    if home is None:
        return None
    wanted = code or home
    unit = ctx.unit_in_scope(wanted)
    if unit is None:
        raise ctx.deny("console-overview", f"org-unit:{wanted}", ctx.t("forbidden_text"))
    return unit


@router.get("/")
def overview(
    request: Request,
    unit: str | None = None,
    indicator: str | None = None,
    session: Session = SessionDep,
) -> Response:
    ctx = context(request, session)
    if ctx.who is not None and ctx.who.kind == "staff" and not ctx.access.allows("console.overview"):
        pages = ctx.nav()
        if pages:  # a clinician's or steward's home is their first page
            return RedirectResponse(pages[0][1], status_code=303)
    ctx = page_context(request, session, "overview")
    own = ctx.facility_view()
    if own is not None:
        return facility_home(ctx, own, indicator)
    area = _unit(ctx, unit)
    ind = _indicator(indicator)
    figures = key_figures(ctx, area)
    trail = []
    if area is not None:
        home = ctx.session.get(OrgUnit, ctx.home_unit() or "")
        codes = [c for c in area.path.strip("/").split("/") if c]
        for code in codes[len(home.path.strip("/").split("/")) - 1 if home else 0 :]:
            row = ctx.session.get(OrgUnit, code)
            if row is not None:
                trail.append(row)
    target = f"org-unit:{area.code if area else ctx.facility_view()}"
    ctx.access.log("console-overview", target)
    session.commit()
    return render(
        ctx,
        "overview.html",
        area=area,
        trail=trail,
        figures=figures,
        indicator=ind,
        indicators=list(catalogue().values()),
    )


def facility_home(ctx: Ctx, code: str, indicator: str | None) -> Response:
    """A facility administrator's home: their facility (name, type, place, connection), its
    reporting over the last twelve months due, and each of its indicators in the last period
    that has ended beside the one before, with the trend of one."""
    from phip.standards.facility import BY_CODE

    fac = ctx.facility_in_scope(code)
    if fac is None:
        raise ctx.deny("console-overview", f"facility:{code}", ctx.t("forbidden_text"))
    lang = ctx.t.lang
    kind = BY_CODE.get(fac.type_code)
    places = [ctx.session.get(OrgUnit, c) for c in (fac.prefecture_code, fac.county_code, fac.org_unit_code)]
    place = " · ".join(dict.fromkeys(u.name for u in places if u is not None))
    as_of = ctx.settings.as_of or date.today()
    # the facilities of its org unit (a facility's path is its org unit's): this one among them
    statuses = connection.facilities(ctx.session, ctx.settings.resolved_lake_dir(), fac.path, as_of)
    status = next((st for st in statuses if st.code == code), None)
    own = [i for i in catalogue().values() if "facility" in i.levels]
    ind = indicator if indicator in {i.id for i in own} else FACILITY_INDICATOR
    every = _rows(ctx, results.Filter(None, "facility", code, None, None, None, "", None, code))
    cards = []
    for i in own:
        # a quarter: a facility's month is often too small to show
        ptype = next((p for p in ("quarter", "month", "year") if p in i.periods), i.periods[-1])
        rows = [r for r in every if r["indicator"] == i.id and r["period_type"] == ptype]
        done = sorted(
            (r for r in rows if relative.ended(ptype, r["period"], as_of)), key=lambda r: r["period"]
        )
        shown = [
            {**r, "shown": ctx.t("suppressed") if r["suppressed"] else ctx.t.value(r["value"], i.unit)}
            for r in reversed(done[-2:])
        ]
        cards.append(
            {
                "indicator": i,
                "period_type": ptype,
                "last": ([*shown, None])[0],
                "before": ([*shown, None, None])[1],
            }
        )
    ctx.access.log("console-overview", f"facility:{code}")
    ctx.session.commit()
    return render(
        ctx,
        "facility_home.html",
        fac=fac,
        kind=(kind.name_zh if lang == "zh" else kind.name_en) if kind else "",
        place=place,
        conn=status,
        records_month=key_figures(ctx, None)["records_month"],
        today=as_of,
        cards=cards,
        indicator=ind,
        indicators=own,
    )


#: facilities drawn on a map at most (the rest are counted in the tables)
MAX_POINTS = 5000


def facility_points(ctx: Ctx, area: OrgUnit) -> list[dict[str, Any]]:
    """The area's facilities that have a location: name, tier (in words), connected or not."""
    q = (
        select(
            Facility.code,
            Facility.name,
            Facility.tier,
            Facility.connected,
            Facility.longitude,
            Facility.latitude,
        )
        .where(
            Facility.path.startswith(area.path, autoescape=True),
            Facility.longitude.is_not(None),
            Facility.latitude.is_not(None),
        )
        .order_by(Facility.code)
        .limit(MAX_POINTS)
    )
    return [
        {"code": c, "name": n, "tier": ctx.t(t), "connected": bool(on), "lon": x, "lat": y}
        for c, n, t, on, x, y in ctx.session.execute(q)
    ]


def _rows(ctx: Ctx, filt: results.Filter) -> list[dict[str, Any]]:
    try:
        return results.query(ctx.settings.resolved_lake_dir(), filt, ctx.t.locale)
    except LakeError:
        return []


@router.get("/console/data/map")
def map_data(
    request: Request,
    indicator: str,
    unit: str | None = None,
    period_type: str | None = None,
    period: str | None = None,
    facilities: bool = False,
    session: Session = SessionDep,
) -> Response:
    """The regions below `unit` (GeoJSON) and the indicator's values for them; with
    `facilities`, the located facilities of the area as points."""
    ctx = page_context(request, session, "overview")
    area = _unit(ctx, unit)
    if area is None:
        return JSONResponse({"regions": {"type": "FeatureCollection", "features": []}, "values": []})
    ind = _indicator(indicator)
    ptype = period_type_for(ind, period_type)
    lake = ctx.settings.resolved_lake_dir()
    try:
        available = results.periods(lake, ind, ptype)
    except LakeError:
        available = []
    as_of = ctx.settings.as_of or date.today()
    # by default the last period that has ended (the running one is not complete)
    last = relative.default(available, ptype, as_of)
    chosen = period if period in available else last
    level = CHILD.get(area.level)
    scope_unit, scope_facility = scope_of(ctx.access)
    regions = geo.regions(ctx.settings.province, area.code)
    region_level = regions["features"][0]["properties"]["level"] if regions["features"] else level
    if region_level == "county" and area.level == "county":
        filt = results.Filter(ind, "county", area.code, None, ptype, chosen, "", scope_unit, scope_facility)
    else:
        filt = results.Filter(ind, level, None, area.code, ptype, chosen, "", scope_unit, scope_facility)
    rows = _rows(ctx, filt) if chosen and level in LEVELS else []
    cat = catalogue()[ind]
    return JSONResponse(
        {
            "indicator": ind,
            "name": cat.name[ctx.t.lang],
            "unit": cat.unit,
            "period_type": ptype,
            "period": chosen,
            "periods": available,
            "area": {"code": area.code, "name": area.name, "level": area.level},
            "facilities": facility_points(ctx, area) if facilities else [],
            "drill": area.level in ("province", "prefecture"),
            "regions": regions,
            "values": [
                {
                    "code": r["org_unit"],
                    "name": r["org_unit_name"],
                    "value": r["value"],
                    "numerator": r["numerator"],
                    "denominator": r["denominator"],
                    "suppressed": r["suppressed"],
                    "shown": ctx.t.value(r["value"], cat.unit),
                    "complete": bool(r.get("complete")) and relative.ended(ptype, r["period"], as_of),
                    "reports": (
                        f"{r['received_reports']} / {r['expected_reports']}"
                        if r.get("expected_reports")
                        else None
                    ),
                }
                for r in rows
            ],
        }
    )


@router.get("/console/data/trend")
def trend_data(
    request: Request, indicator: str, unit: str | None = None, session: Session = SessionDep
) -> Response:
    """The indicator over its finest period type of a month or longer, for the area."""
    ctx = page_context(request, session, "overview")
    ind = _indicator(indicator)
    cat = catalogue()[ind]
    ptype = next((p for p in ("month", "quarter", "year") if p in cat.periods), cat.periods[-1])
    scope_unit, scope_facility = scope_of(ctx.access)
    own = ctx.facility_view()
    if own is not None:
        filt = results.Filter(ind, "facility", own, None, ptype, None, "", None, scope_facility)
    else:
        area = _unit(ctx, unit)
        assert area is not None
        filt = results.Filter(ind, area.level, area.code, None, ptype, None, "", scope_unit, scope_facility)
    rows = _rows(ctx, filt) if ptype else []
    return JSONResponse(
        {
            "name": cat.name[ctx.t.lang],
            "unit": cat.unit,
            "period_type": ptype,
            "points": [{"period": r["period"], "value": r["value"]} for r in rows],
        }
    )

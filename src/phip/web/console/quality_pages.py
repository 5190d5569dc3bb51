"""Data quality in the console: scorecards from the province down to facilities (worst first,
with the score of every dimension), a unit's score over the rounds, and a facility's
verification report with its findings and their statuses."""

from __future__ import annotations

import json
import statistics
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip import workflow
from phip.lake.manifest import LakeError
from phip.orgunits.models import Facility, OrgUnit
from phip.quality import dqr
from phip.quality.catalogue import DIMENSIONS
from phip.quality.lifecycle import MACHINE as FINDING_MACHINE
from phip.quality.report import facility_findings
from phip.quality.scorecard import LEVELS, scorecard, trend
from phip.web.console.base import Ctx, page_context, render
from phip.web.deps import SessionDep

router = APIRouter(include_in_schema=False)
DIMENSION_EN = {
    "conformance": "Conformance",
    "completeness": "Completeness",
    "accuracy": "Accuracy",
    "consistency": "Consistency",
    "uniqueness": "Uniqueness",
    "timeliness": "Timeliness",
}


def _dimensions(ctx: Ctx) -> list[tuple[str, str]]:
    return [(d, v[0] if ctx.t.lang == "zh" else DIMENSION_EN.get(d, d)) for d, v in DIMENSIONS.items()]


def _levels(ctx: Ctx) -> list[str]:
    """Levels from the caller's own down to facilities."""
    if ctx.facility_view() is not None:
        return ["facility"]
    home = ctx.session.get(OrgUnit, ctx.home_unit() or "")
    order = list(reversed(LEVELS))  # province … facility
    start = order.index(home.level) if home is not None and home.level in order else 0
    return order[start:]


@router.get("/quality")
def quality_page(request: Request, level: str | None = None, session: Session = SessionDep) -> Response:
    ctx = page_context(request, session, "quality")
    levels = _levels(ctx)
    chosen = level if level in levels else (levels[1] if len(levels) > 1 else levels[0])
    within = ctx.access.units()
    try:
        rows = scorecard(session, ctx.settings.resolved_lake_dir(), chosen, within=within)
    except LakeError:
        rows = []
    ctx.access.log("console-quality", f"quality:{chosen}")
    session.commit()
    return render(ctx, "quality.html", levels=levels, level=chosen, rows=rows, dimensions=_dimensions(ctx))


#: a rule's records shown per page on a facility's report
RECORDS_PER_PAGE = 50
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def group_findings(findings: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Findings grouped by rule, errors first, then the most records: each rule with its title,
    dimension, severity, and its records counted per status."""
    groups: dict[str, dict[str, Any]] = {}
    for f in findings:
        g = groups.setdefault(
            f["rule_id"],
            {
                "rule": f["rule_id"],
                "title": f["title"][lang],
                "dimension": f["dimension"],
                "severity": f["severity"],
                "hint": (f.get("hint") or {}).get(lang, ""),
                "total": 0,
                "statuses": {},
            },
        )
        g["total"] += 1
        g["statuses"][f["status"]] = g["statuses"].get(f["status"], 0) + 1
    return sorted(
        groups.values(), key=lambda g: (SEVERITY_ORDER.get(g["severity"], 3), -g["total"], g["rule"])
    )


def _choice(value: str | None, allowed: Any) -> str | None:
    return value if value in allowed else None


@router.get("/quality/unit/{unit}")
def quality_unit(
    request: Request,
    unit: str,
    level: str,
    status: str | None = None,
    severity: str | None = None,
    dimension: str | None = None,
    rule: str | None = None,
    page: int = 1,
    session: Session = SessionDep,
) -> Response:
    """A unit's score over the rounds (its trend); a facility's page also has its findings grouped
    by rule (filtered by status, severity and dimension), and one rule's records, a page at a time."""
    ctx = page_context(request, session, "quality")
    if level not in LEVELS:
        level = "county"
    within = ctx.access.units()
    if within is not None and unit not in within and not (level == "province" and unit == ctx.home_unit()):
        raise ctx.deny("console-quality", f"quality:{unit}", ctx.t("forbidden_text"))
    lake = ctx.settings.resolved_lake_dir()
    try:
        points = trend(session, lake, level, unit)
    except LakeError:
        points = []
    findings: list[dict[str, Any]] = []
    name = unit
    if level == "facility":
        fac = ctx.facility_in_scope(unit)
        if fac is None:
            raise ctx.deny("console-quality", f"quality:{unit}", ctx.t("forbidden_text"))
        name = fac.name
        findings = facility_findings(session, unit)
    else:
        row = session.get(OrgUnit, unit)
        name = row.name if row is not None else unit
    chart = {
        "kind": "line",
        "labels": [f"#{p['round']}" for p in points],
        "values": [p["score"] for p in points],
        "unit": "",
        "name": ctx.t("score"),
    }
    ctx.access.log("console-quality-report", f"quality:{unit}")
    session.commit()
    states = workflow.machine(FINDING_MACHINE).states
    status_names = {s: (v.zh if ctx.t.lang == "zh" else v.en) for s, v in states.items()}
    statuses: dict[str, int] = {}
    for f in findings:
        statuses[f["status"]] = statuses.get(f["status"], 0) + 1
    chosen = {
        "status": _choice(status, states),
        "severity": _choice(severity, SEVERITY_ORDER),
        "dimension": _choice(dimension, DIMENSIONS),
    }
    kept = [f for f in findings if all(v is None or f[k] == v for k, v in chosen.items())]
    groups = group_findings(kept, ctx.t.lang)
    # the rule asked for, else the worst (its records shown at once)
    picked = _choice(rule, {g["rule"] for g in groups}) or (groups[0]["rule"] if groups else None)
    of_rule = [f for f in kept if f["rule_id"] == picked]
    pages = max(1, -(-len(of_rule) // RECORDS_PER_PAGE))
    page = min(max(1, page), pages)
    return render(
        ctx,
        "quality_unit.html",
        unit=unit,
        name=name,
        level=level,
        points=points,
        chart=json.dumps(chart, ensure_ascii=False),
        statuses=statuses,
        status_names=status_names,
        dimension_names=dict(_dimensions(ctx)),
        chosen=chosen,
        query=urlencode({"level": "facility", **{k: v for k, v in chosen.items() if v}}),
        groups=groups,
        rule=picked,
        records=of_rule[(page - 1) * RECORDS_PER_PAGE : page * RECORDS_PER_PAGE],
        page=page,
        pages=pages,
        total=len(kept),
    )


def _dqr_summary(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """A metric over the facilities assessed: how many, how many flagged, and the area's value (a
    share over all months owed; the median of days and ratios; months flagged over months)."""
    kind = dqr.INFO[metric][4]
    values = [r["value"] for r in rows if r["value"] is not None]
    if kind in ("share", "months"):
        den = sum(r["denominator"] or 0 for r in rows)
        area = sum(r["numerator"] or 0 for r in rows) / den if den else None
    else:
        area = statistics.median(values) if values else None
    flagged = sum(1 for r in rows if r["flagged"])
    return {
        "assessed": len(rows),
        "flagged": flagged,
        "share_flagged": flagged / len(rows) if rows else None,
        "value": area,
    }


@router.get("/quality/metrics")
def dqr_page(
    request: Request, year: str | None = None, metric: str | None = None, session: Session = SessionDep
) -> Response:
    """The WHO Data Quality Review metrics of the last round for the caller's facilities: per
    metric its threshold, the facilities assessed and flagged and the area's value; one metric's
    flagged facilities (worst first)."""
    ctx = page_context(request, session, "quality")
    try:
        rows = dqr.read(ctx.settings.resolved_lake_dir(), ctx.access.units())
    except LakeError:
        rows = []
    years = sorted({r["period"] for r in rows if len(r["period"]) == 4}, reverse=True)
    chosen = year if year in years else (years[0] if years else None)
    zh = ctx.t.lang == "zh"
    of_year = [r for r in rows if r["period"] == chosen]
    table = []
    for m, info in dqr.INFO.items():
        mine = [r for r in of_year if r["metric"] == m]
        table.append(
            {
                "metric": m,
                "name": info[0] if zh else info[1],
                "threshold": info[2] if zh else info[3],
                "kind": info[4],
            }
            | _dqr_summary(mine, m)
        )
    detail: list[dict[str, Any]] = []
    picked = metric if metric in dqr.INFO else None
    if picked and chosen:
        flagged = [r for r in rows if r["metric"] == picked and r["flagged"] and r["period"][:4] == chosen]
        names = dict(
            session.execute(
                select(Facility.code, Facility.name).where(
                    Facility.code.in_({r["facility"] for r in flagged})
                )
            ).all()
        )
        detail = [r | {"name": names.get(r["facility"], r["facility"])} for r in flagged]
        detail.sort(key=lambda r: (r["facility"], r["period"]))
    outliers, peer_level = _unit_outliers(ctx, chosen)
    ctx.access.log("console-quality-metrics", f"quality:{chosen or '-'}")
    session.commit()
    return render(
        ctx,
        "quality_metrics.html",
        years=years,
        year=chosen,
        table=table,
        metric=picked,
        metric_name=(dqr.INFO[picked][0] if zh else dqr.INFO[picked][1]) if picked else "",
        kind=dqr.INFO[picked][4] if picked else "",
        detail=detail[:500],
        more=max(0, len(detail) - 500),
        outliers=outliers[:200],
        peer_level=peer_level,
    )


def _unit_outliers(ctx: Ctx, year: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Units whose indicator value for the year is an outlier among their peers (the units below
    the caller's: counties for the province and a prefecture, townships for a county)."""
    from phip.analytics import results
    from phip.analytics.outliers import unit_outliers
    from phip.web.indicators_router import scope_of

    home = ctx.session.get(OrgUnit, ctx.home_unit() or "")
    if home is None or year is None:
        return [], None
    level = "township" if home.level in ("county", "township") else "county"
    scope_unit, scope_facility = scope_of(ctx.access)
    filt = results.Filter(None, level, None, None, "year", year, "", scope_unit, scope_facility)
    try:
        rows = results.query(ctx.settings.resolved_lake_dir(), filt, ctx.t.locale)
    except LakeError:
        return [], level
    found = unit_outliers(rows)
    for r in found:
        r["shown"] = ctx.t.value(r["value"], r["unit"])
        r["median_shown"] = ctx.t.value(r["median"], r["unit"])
    return found, level

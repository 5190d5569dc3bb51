"""Data quality in the console: scorecards from the province down to facilities (worst first,
with the score of every dimension), a unit's score over the rounds, and a facility's
verification report with its findings and their statuses."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from phip.lake.manifest import LakeError
from phip.orgunits.models import OrgUnit
from phip.quality.catalogue import DIMENSIONS
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


@router.get("/quality/unit/{unit}")
def quality_unit(request: Request, unit: str, level: str, session: Session = SessionDep) -> Response:
    """A unit's score over the rounds (its trend); a facility's page also lists its findings."""
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
        "labels": [f"#{p['round']}" for p in points],
        "values": [p["score"] for p in points],
        "unit": "",
        "name": ctx.t("score"),
    }
    ctx.access.log("console-quality-report", f"quality:{unit}")
    session.commit()
    statuses: dict[str, int] = {}
    for f in findings:
        statuses[f["status"]] = statuses.get(f["status"], 0) + 1
    return render(
        ctx,
        "quality_unit.html",
        unit=unit,
        name=name,
        level=level,
        points=points,
        chart=json.dumps(chart, ensure_ascii=False),
        findings=findings[:500],
        more=max(0, len(findings) - 500),
        statuses=statuses,
    )

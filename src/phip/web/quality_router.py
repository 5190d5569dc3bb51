"""`/api/quality`: the rule catalogue, scorecards, a facility's verification report (FHIR Bundle
of OperationOutcomes, CSV or Excel), acknowledging findings and the last round's summary, each
within the caller's scope: province roles and statisticians see the province, prefecture and
county administrators their subtree, a facility (its administrator or its client) itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from phip.lake.manifest import LakeError
from phip.quality import dqr
from phip.quality.catalogue import catalogue
from phip.quality.report import bundle, facility_findings, round_summary, to_csv, to_xlsx
from phip.quality.scorecard import LEVELS, scorecard, trend
from phip.quality.service import acknowledge
from phip.security.access import Access
from phip.web.deps import allow
from phip.web.outcome import ApiError

router = APIRouter(prefix="/api/quality", tags=["quality"])
#: what a caller is told when there is no lake (never where the server keeps it)
NO_LAKE = "no data-quality results yet: the analytical lake has not been built"
READ = "quality.read"


@router.get("/rules")
def rules(access: Access = allow(READ, "quality-rules")) -> dict[str, Any]:
    """Every rule: id, title and fix hint (zh, en), dimension, severity, element, weights by tier."""
    return {"rules": [r.to_json() for r in catalogue().rules]}


@router.get("/scorecard")
def scores(
    request: Request,
    level: str = "county",
    unit: str | None = None,
    access: Access = allow(READ, "quality-scorecard"),
) -> dict[str, Any]:
    """League table of the last round at `level` (worst first) within the caller's scope; with
    `unit`, that unit's trend over the rounds."""
    session = access.session
    if level not in LEVELS:
        raise ApiError(400, "invalid", f"level must be one of {', '.join(LEVELS)}")
    within = access.units()
    lake = request.app.state.settings.resolved_lake_dir()
    try:
        if unit is not None:
            if within is not None and unit not in within:
                access.deny(READ, "quality-scorecard", f"quality:{unit}", "this unit is outside your scope")
            return {"unit": unit, "level": level, "trend": trend(session, lake, level, unit)}
        rows = scorecard(session, lake, level, within=within)
    except LakeError as exc:
        raise ApiError(404, "not-found", NO_LAKE) from exc
    access.log("quality-scorecard", f"quality:{level}")
    session.commit()
    return {"level": level, "rows": rows}


@router.get("/report")
def report(
    request: Request,
    facility: str,
    format: str = "json",
    all: bool = False,
    lang: str | None = None,
    access: Access = allow(READ, "quality-report"),
) -> Any:
    """The facility's verification report: a FHIR Bundle of OperationOutcomes (json), CSV or Excel
    (`format`); open, acknowledged and corrected findings, and verified ones too with `all`."""
    if format not in ("json", "csv", "xlsx"):
        raise ApiError(400, "invalid", "format must be json, csv or xlsx")
    access.require_facility(READ, facility, "quality-report")
    session = access.session
    locale = lang or request.app.state.settings.locale
    statuses = None if all else ("open", "acknowledged", "corrected")
    findings = facility_findings(session, facility, statuses)
    access.log("quality-report", f"quality:{facility}", "ok", format)
    session.commit()
    if format == "csv":
        return Response(
            to_csv(findings, locale),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="quality-{facility}.csv"'},
        )
    if format == "xlsx":
        return Response(
            to_xlsx(findings, locale),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="quality-{facility}.xlsx"'},
        )
    return Response(
        _json(bundle(facility, findings, locale)),
        media_type="application/fhir+json",
    )


def _json(obj: Any) -> bytes:
    import orjson

    return orjson.dumps(obj)


class Acknowledge(BaseModel):
    facility: str = Field(max_length=24)
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(max_length=10_000)


@router.post("/acknowledge")
def acknowledge_findings(
    body: Acknowledge, access: Access = allow("quality.acknowledge", "quality-acknowledge")
) -> dict[str, Any]:
    """A facility acknowledges findings of its report (open → acknowledged)."""
    access.require_facility("quality.acknowledge", body.facility, "quality-acknowledge")
    n = acknowledge(access.session, body.ids, body.facility, access.actor)
    access.log("quality-acknowledge", f"quality:{body.facility}", "ok", str(n))
    access.session.commit()
    return {"acknowledged": n}


@router.get("/metrics")
def metrics(
    request: Request,
    facility: str | None = None,
    flagged: bool = False,
    access: Access = allow(READ, "quality-metrics"),
) -> dict[str, Any]:
    """Facility data-quality metrics after WHO DQR and DHIS2 (reporting completeness and
    timeliness, submission lag, indicator completeness, outliers, consistency over time and
    between related series) from the last round, within the caller's scope; `flagged` for the
    flagged ones only."""
    if facility is not None:
        access.require_facility(READ, facility, "quality-metrics")
        wanted: set[str] | None = {facility}
    else:
        wanted = access.units()
    try:
        rows = dqr.read(request.app.state.settings.resolved_lake_dir(), wanted, flagged)
    except LakeError as exc:
        raise ApiError(404, "not-found", NO_LAKE) from exc
    access.log("quality-metrics", f"quality:{facility or '*'}")
    access.session.commit()
    return {"rows": rows}


@router.get("/summary")
def summary(facility: str | None = None, access: Access = allow(READ, "quality-summary")) -> dict[str, Any]:
    """What the last round changed (new, verified, open findings; facilities whose score rose),
    for one facility or, for callers who see the province, the province."""
    area = access.area()
    if facility is None and area.kind != "province":
        if area.kind != "facility":
            raise ApiError(400, "invalid", "name a facility (the province summary is for province roles)")
        facility = area.facility
    if facility is not None:
        access.require_facility(READ, facility, "quality-summary")
    return round_summary(access.session, facility)

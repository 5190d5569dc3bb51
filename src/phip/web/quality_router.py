"""`/api/quality`: the rule catalogue, scorecards, a facility's verification report (FHIR Bundle
of OperationOutcomes, CSV or Excel), acknowledging findings and the last round's summary, each
within the caller's scope: province roles and statisticians see the province, prefecture and
county administrators their subtree, a facility (its administrator or its client) itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.lake.manifest import LakeError
from phip.orgunits.models import Facility, OrgUnit
from phip.quality import dqr
from phip.quality.catalogue import catalogue
from phip.quality.report import bundle, facility_findings, round_summary, to_csv, to_xlsx
from phip.quality.scorecard import LEVELS, scorecard, trend
from phip.quality.service import acknowledge
from phip.security import audit
from phip.security.principals import Principal
from phip.web.deps import PrincipalDep, SessionDep
from phip.web.outcome import ApiError

router = APIRouter(prefix="/api/quality", tags=["quality"])
#: what a caller is told when there is no lake (never where the server keeps it)
NO_LAKE = "no data-quality results yet: the analytical lake has not been built"
AREA_ROLES = frozenset({"province_admin", "prefecture_admin", "county_admin", "statistician"})
FACILITY_ROLES = frozenset({"facility_admin", "facility_client"})


def _allowed(session: Session, who: Principal, action: str) -> None:
    if who.role not in AREA_ROLES | FACILITY_ROLES:
        audit.record(session, who.actor, who.role, action, "quality", "denied")
        session.commit()
        raise ApiError(403, "forbidden", "data quality is for administrators, statisticians and facilities")


def _facility_path(session: Session, facility: str) -> str | None:
    q = (
        select(OrgUnit.path)
        .join(Facility, Facility.org_unit_code == OrgUnit.code)
        .where(Facility.code == facility)
    )
    return session.scalar(q)


def _may_see_facility(session: Session, who: Principal, facility: str) -> bool:
    if who.role in FACILITY_ROLES:
        return who.facility == facility
    if who.role in ("province_admin", "statistician"):
        return _facility_path(session, facility) is not None
    path = _facility_path(session, facility)
    return path is not None and bool(who.org_path) and path.startswith(who.org_path or "-")


def _check_facility(session: Session, who: Principal, facility: str, action: str) -> None:
    if not _may_see_facility(session, who, facility):
        audit.record(session, who.actor, who.role, action, f"quality:{facility}", "denied")
        session.commit()
        raise ApiError(403, "forbidden", "this facility is outside your scope")


@router.get("/rules")
def rules(session: Session = SessionDep, who: Principal = PrincipalDep) -> dict[str, Any]:
    """Every rule: id, title and fix hint (zh, en), dimension, severity, element, weights by tier."""
    _allowed(session, who, "quality-rules")
    return {"rules": [r.to_json() for r in catalogue().rules]}


def _units_within(session: Session, who: Principal) -> set[str] | None:
    """Org units and facilities the caller may see (None: all)."""
    if who.role in ("province_admin", "statistician"):
        return None
    if who.role in FACILITY_ROLES:
        return {who.facility or "-"}
    prefix = who.org_path or "-"
    units = set(session.scalars(select(OrgUnit.code).where(OrgUnit.path.startswith(prefix))))
    facs = set(session.scalars(select(Facility.code).where(Facility.org_unit_code.in_(units))))
    return units | facs


@router.get("/scorecard")
def scores(
    request: Request,
    level: str = "county",
    unit: str | None = None,
    session: Session = SessionDep,
    who: Principal = PrincipalDep,
) -> dict[str, Any]:
    """League table of the last round at `level` (worst first) within the caller's scope; with
    `unit`, that unit's trend over the rounds."""
    _allowed(session, who, "quality-scorecard")
    if level not in LEVELS:
        raise ApiError(400, "invalid", f"level must be one of {', '.join(LEVELS)}")
    within = _units_within(session, who)
    lake = request.app.state.settings.resolved_lake_dir()
    try:
        if unit is not None:
            if within is not None and unit not in within:
                raise ApiError(403, "forbidden", "this unit is outside your scope")
            return {"unit": unit, "level": level, "trend": trend(session, lake, level, unit)}
        rows = scorecard(session, lake, level, within=within)
    except LakeError as exc:
        raise ApiError(404, "not-found", NO_LAKE) from exc
    audit.record(session, who.actor, who.role, "quality-scorecard", f"quality:{level}", "ok")
    session.commit()
    return {"level": level, "rows": rows}


@router.get("/report")
def report(
    request: Request,
    facility: str,
    format: str = "json",
    all: bool = False,
    lang: str | None = None,
    session: Session = SessionDep,
    who: Principal = PrincipalDep,
) -> Any:
    """The facility's verification report: a FHIR Bundle of OperationOutcomes (json), CSV or Excel
    (`format`); open, acknowledged and corrected findings, and verified ones too with `all`."""
    _allowed(session, who, "quality-report")
    if format not in ("json", "csv", "xlsx"):
        raise ApiError(400, "invalid", "format must be json, csv or xlsx")
    _check_facility(session, who, facility, "quality-report")
    locale = lang or request.app.state.settings.locale
    statuses = None if all else ("open", "acknowledged", "corrected")
    findings = facility_findings(session, facility, statuses)
    audit.record(session, who.actor, who.role, "quality-report", f"quality:{facility}", "ok", format)
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
    body: Acknowledge, session: Session = SessionDep, who: Principal = PrincipalDep
) -> dict[str, Any]:
    """A facility acknowledges findings of its report (open → acknowledged)."""
    _allowed(session, who, "quality-acknowledge")
    if who.role not in FACILITY_ROLES:
        audit.record(session, who.actor, who.role, "quality-acknowledge", "quality", "denied")
        session.commit()
        raise ApiError(403, "forbidden", "only the facility acknowledges its findings")
    _check_facility(session, who, body.facility, "quality-acknowledge")
    n = acknowledge(session, body.ids, body.facility)
    audit.record(
        session, who.actor, who.role, "quality-acknowledge", f"quality:{body.facility}", "ok", str(n)
    )
    session.commit()
    return {"acknowledged": n}


@router.get("/metrics")
def metrics(
    request: Request,
    facility: str | None = None,
    flagged: bool = False,
    session: Session = SessionDep,
    who: Principal = PrincipalDep,
) -> dict[str, Any]:
    """Facility data-quality metrics after WHO DQR and DHIS2 (reporting completeness and
    timeliness, submission lag, indicator completeness, outliers, consistency over time and
    between related series) from the last round, within the caller's scope; `flagged` for the
    flagged ones only."""
    _allowed(session, who, "quality-metrics")
    if facility is not None:
        _check_facility(session, who, facility, "quality-metrics")
        wanted: set[str] | None = {facility}
    else:
        wanted = _units_within(session, who)
    try:
        rows = dqr.read(request.app.state.settings.resolved_lake_dir(), wanted, flagged)
    except LakeError as exc:
        raise ApiError(404, "not-found", NO_LAKE) from exc
    audit.record(session, who.actor, who.role, "quality-metrics", f"quality:{facility or '*'}", "ok")
    session.commit()
    return {"rows": rows}


@router.get("/summary")
def summary(
    facility: str | None = None, session: Session = SessionDep, who: Principal = PrincipalDep
) -> dict[str, Any]:
    """What the last round changed (new, verified, open findings; facilities whose score rose),
    for one facility or, for province roles, the province."""
    _allowed(session, who, "quality-summary")
    if facility is None and who.role not in ("province_admin", "statistician"):
        if who.role not in FACILITY_ROLES or not who.facility:
            raise ApiError(400, "invalid", "name a facility (the province summary is for province roles)")
        facility = who.facility
    if facility is not None:
        _check_facility(session, who, facility, "quality-summary")
    return round_summary(session, facility)

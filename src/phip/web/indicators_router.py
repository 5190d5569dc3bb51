"""`/api/indicators`: computed indicators within the caller's scope, as JSON, CSV or Excel, with
small cells suppressed; `/api/indicators/catalogue`: the definitions."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request, Response

from phip.analytics import exports, results
from phip.analytics.catalogue import BREAKDOWNS, LEVELS, PERIODS, catalogue
from phip.lake.manifest import LakeError
from phip.security.access import Access
from phip.web.deps import allow
from phip.web.outcome import ApiError

router = APIRouter(prefix="/api/indicators", tags=["indicators"])
MAX_JSON_ROWS = 50_000
READ = "indicators.read"


def scope_of(access: Access) -> tuple[str | None, str | None]:
    """(org unit, facility) the caller may see; (None, None) = the whole province."""
    area = access.area()
    if area.kind == "facility":
        return None, area.facility
    if area.kind == "province":
        return None, None
    return area.unit or "-", None


@router.get("/catalogue")
def list_catalogue(access: Access = allow(READ, "indicator-catalogue")) -> dict[str, Any]:
    """Every indicator: names and definitions (zh, en), numerator, denominator, factor, levels,
    periods, breakdowns and target."""
    return {"indicators": [i.to_json() for i in catalogue().values()]}


@router.get("")
def indicators(
    request: Request,
    indicator: str | None = None,
    level: str | None = None,
    org_unit: str | None = None,
    parent: str | None = None,
    period_type: str | None = None,
    period: str | None = None,
    breakdown: str = "",
    format: str = "json",
    lang: str | None = None,
    labels: bool = False,
    access: Access = allow(READ, "indicators"),
) -> Any:
    """Indicator values (numerator, denominator, value) filtered by indicator, level, org unit
    (or the children of `parent`), period type and period; `breakdown` = sex / age_group /
    ethnicity / poverty / facility_type for a breakdown, `all` for every row, empty for totals.
    Cells resting on 1-4 records are suppressed. `format` = json, csv or xlsx; with `labels` a
    file is for people: headers, levels, categories and units in words (`lang`), and the Excel
    file has a sheet describing each indicator."""
    if indicator is not None and indicator not in catalogue():
        raise ApiError(400, "invalid", f"unknown indicator {indicator}")
    if level is not None and level not in LEVELS:
        raise ApiError(400, "invalid", f"level must be one of {', '.join(LEVELS)}")
    if period_type is not None and period_type not in PERIODS:
        raise ApiError(400, "invalid", f"period_type must be one of {', '.join(PERIODS)}")
    if breakdown not in ("", "all", *BREAKDOWNS):
        raise ApiError(400, "invalid", f"breakdown must be empty, all or one of {', '.join(BREAKDOWNS)}")
    if format not in ("json", "csv", "xlsx"):
        raise ApiError(400, "invalid", "format must be json, csv or xlsx")
    unit, facility = scope_of(access)
    filt = results.Filter(
        indicator,
        level,
        org_unit,
        parent,
        period_type,
        period,
        None if breakdown == "all" else breakdown,
        unit,
        facility,
    )
    settings = request.app.state.settings
    locale = lang or settings.locale
    try:
        limit = MAX_JSON_ROWS + 1 if format == "json" else None
        rows = results.query(settings.resolved_lake_dir(), filt, locale, limit)
        meta = results.current(settings.resolved_lake_dir())
    except LakeError as exc:
        raise ApiError(404, "not-found", str(exc)) from exc
    access.log("indicators", f"indicators:{indicator or '*'}", "ok", format)
    access.session.commit()
    if format == "csv":
        buf = io.StringIO()
        exports.write_csv(rows, buf, locale if labels else None)
        return Response(
            ("\ufeff" + buf.getvalue()).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="indicators.csv"'},
        )
    if format == "xlsx":
        data = io.BytesIO()
        exports.write_xlsx(rows, data, locale if labels else None, meta["computed_at"])
        return Response(
            data.getvalue(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": 'attachment; filename="indicators.xlsx"'},
        )
    truncated = len(rows) > MAX_JSON_ROWS
    return {
        "computed_at": meta["computed_at"],
        "lake_version": meta["lake_version"],
        "rows": rows[:MAX_JSON_ROWS],
        "truncated": truncated,
    }

"""Computed indicator values: kept next to the lake (`<lake>/indicators/`, replaced atomically),
queried by indicator, level, org unit and period within a caller's scope, and exported with
small cells suppressed (every output that leaves the platform)."""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from phip.analytics.catalogue import catalogue
from phip.lake.manifest import LakeError, require_manifest
from phip.lake.reader import table_sql

#: counts 1-4 are suppressed (with the value computed from them); zero cells are shown
SMALL_CELL = 5
KEEP = 2  # result files kept (the current one and the one before)


def _folder(lake: Path) -> Path:
    return lake / "indicators"


def save(lake: Path, table: pa.Table, engine: str, seconds: float) -> dict[str, Any]:
    """Write `table` as the current results (readers switch in one rename)."""
    folder = _folder(lake)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = require_manifest(lake)
    name = f"results_{manifest.version:06d}_{time.time_ns()}.parquet"
    pq.write_table(table, folder / name, compression="zstd")
    meta = {
        "file": name,
        "rows": table.num_rows,
        "engine": engine,
        "seconds": round(seconds, 3),
        "lake_version": manifest.version,
        "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = folder / f".current.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, folder / "current.json")
    files = sorted(folder.glob("results_*.parquet"))
    for old in files[:-KEEP]:
        if old.name != name:
            old.unlink()
    return meta


def current(lake: Path) -> dict[str, Any]:
    path = _folder(lake) / "current.json"
    if not path.exists():
        raise LakeError("no indicators computed yet: run `phip indicators compute`")
    meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return meta


@dataclass(frozen=True)
class Filter:
    indicator: str | None = None
    level: str | None = None
    org_unit: str | None = None
    parent: str | None = None  # children of this org unit (drill-down)
    period_type: str | None = None
    period: str | None = None
    breakdown: str | None = ""  # "" = totals only; None = every breakdown
    #: the caller's scope: an org unit (and below) and/or one facility; None = the province
    scope_unit: str | None = None
    scope_facility: str | None = None


_SUPPRESS = (
    f"((numerator_records > 0 AND numerator_records < {SMALL_CELL}) "
    f"OR (denominator_records > 0 AND denominator_records < {SMALL_CELL}))"
)


def query(lake: Path, f: Filter, locale: str = "zh-CN", limit: int | None = None) -> list[dict[str, Any]]:
    """Result rows (suppressed where small) with indicator and org-unit names in `locale`."""
    meta = current(lake)
    manifest = require_manifest(lake)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW org_unit AS {table_sql(lake, manifest.tables['org_unit'])}")
    con.execute(f"CREATE VIEW facility AS {table_sql(lake, manifest.tables['facility'])}")
    lang = "zh" if locale.startswith("zh") else "en"
    names = [(i.id, i.name[lang], i.unit) for i in catalogue().values()]
    con.execute("CREATE TABLE names(id VARCHAR, name VARCHAR, unit VARCHAR)")
    con.executemany("INSERT INTO names VALUES (?, ?, ?)", names)
    where, params = ["true"], []
    for column in ("indicator", "level", "org_unit", "period_type", "period"):
        value = getattr(f, column)
        if value is not None:
            where.append(f"r.{column} = ?")
            params.append(value)
    if f.breakdown is not None:
        where.append("r.breakdown = ?")
        params.append(f.breakdown)
    if f.parent is not None:
        where.append("coalesce(o.parent_code, fc.org_unit_code) = ?")
        params.append(f.parent)
    if f.scope_facility is not None:
        where.append("r.level = 'facility' AND r.org_unit = ?")
        params.append(f.scope_facility)
    if f.scope_unit is not None:
        where.append(
            "? IN (coalesce(o.province_code, fc.province_code), "
            "coalesce(o.prefecture_code, fc.prefecture_code), "
            "coalesce(o.county_code, fc.county_code), coalesce(o.township_code, fc.township_code))"
        )
        params.append(f.scope_unit)
    path = (_folder(lake) / meta["file"]).as_posix()
    sql = f"""
        SELECT r.indicator, n.name AS indicator_name, r.level, r.org_unit,
               coalesce(o.name, fc.name) AS org_unit_name, r.period_type, r.period, r.breakdown, r.category,
               CASE WHEN {_SUPPRESS} THEN NULL ELSE r.numerator END AS numerator,
               CASE WHEN {_SUPPRESS} THEN NULL ELSE r.denominator END AS denominator,
               CASE WHEN {_SUPPRESS} THEN NULL ELSE r.value END AS value,
               n.unit, {_SUPPRESS} AS suppressed
        FROM read_parquet('{path}') r
        LEFT JOIN names n ON n.id = r.indicator
        LEFT JOIN org_unit o ON r.level <> 'facility' AND o.code = r.org_unit
        LEFT JOIN facility fc ON r.level = 'facility' AND fc.code = r.org_unit
        WHERE {" AND ".join(where)}
        ORDER BY r.indicator, r.period_type, r.period, r.level, r.org_unit, r.breakdown, r.category
    """
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    con.close()
    for r in rows:
        r["suppressed"] = bool(r["suppressed"])
        if r["value"] is not None:
            r["value"] = round(float(r["value"]), 6)
    return rows


EXPORT_COLUMNS = (
    "indicator",
    "indicator_name",
    "level",
    "org_unit",
    "org_unit_name",
    "period_type",
    "period",
    "breakdown",
    "category",
    "numerator",
    "denominator",
    "value",
    "unit",
    "suppressed",
)


def write_csv(rows: list[dict[str, Any]], out: IO[str]) -> None:
    w = csv.writer(out)
    w.writerow(EXPORT_COLUMNS)
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in EXPORT_COLUMNS])


def save_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """A CSV file Excel opens as UTF-8 (with a byte-order mark)."""
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        write_csv(rows, f)


def write_xlsx(rows: list[dict[str, Any]], path: Path | Any) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("indicators")
    ws.append(list(EXPORT_COLUMNS))
    for r in rows:
        ws.append([r[c] for c in EXPORT_COLUMNS])
    wb.save(path)


def periods(lake: Path, indicator: str, period_type: str, valued: bool = True) -> list[str]:
    """The periods computed for an indicator and period type, latest first; with `valued`, only
    periods where some value could be computed (a year whose population is not yet published
    has numerators but no rates)."""
    meta = current(lake)
    path = (_folder(lake) / meta["file"]).as_posix()
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT DISTINCT period FROM read_parquet('{path}') WHERE indicator = ? AND period_type = ? "
        + ("AND value IS NOT NULL " if valued else "")
        + "ORDER BY period DESC",
        [indicator, period_type],
    ).fetchall()
    con.close()
    return [r[0] for r in rows]

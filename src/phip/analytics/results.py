"""Computed indicator values: kept next to the lake (`<lake>/indicators/`, replaced atomically),
queried by indicator, level, org unit and period within a caller's scope, and exported with
small cells suppressed (every output that leaves the platform).

Suppression is decided once, over the whole table, when the results are saved (`suppress`), and
kept with them (column `suppressed`), so every query, page and export hides the same cells
whatever its filter or the caller's scope. Primary suppression hides cells resting on 1-4
records. Complementary (secondary) suppression then keeps them from being recovered by
subtraction: the published cells of a breakdown add up to a published total, so a group with a
single hidden cell gives it away (a county minus its other townships, a total minus its other
categories, a year minus its other quarters). While a group has exactly one hidden cell (the
total counts as a cell), the smallest shown cell of the group is hidden too, until no group has
one. The groups are every published breakdown: the org units (and facilities) right under a
published parent, the categories of a breakdown under their total, and the periods within a
published longer period (day within month and within its ISO week, month within quarter,
quarter within year) for indicators counting events or spans (a state's value at a period's end
adds nothing up). Results saved without the column are not shown (recompute them)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from phip.analytics import reporting
from phip.analytics.catalogue import LEVELS, catalogue, sources
from phip.lake.manifest import LakeError, require_manifest
from phip.lake.reader import table_sql

#: counts 1-4 are suppressed (with the value computed from them); zero cells are shown
SMALL_CELL = 5
KEEP = 2  # result files kept (the current one and the one before)


def _folder(lake: Path) -> Path:
    return lake / "indicators"


def save(
    lake: Path, table: pa.Table, engine: str, seconds: float, as_of: date | None = None
) -> dict[str, Any]:
    """Write `table` as the current results (readers switch in one rename), with the cells to
    suppress decided over the whole of it (`suppress`) and the reports each cell rests on as of
    `as_of` (the `PHIP_AS_OF` setting, else today: `reporting.annotate`)."""
    folder = _folder(lake)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = require_manifest(lake)
    con = duckdb.connect()
    units = con.sql(table_sql(lake, manifest.tables["org_unit"])).to_arrow_table()
    facilities = con.sql(table_sql(lake, manifest.tables["facility"])).to_arrow_table()
    con.close()
    started = time.perf_counter()
    hidden = suppress(table, units, facilities, periodic(), people())
    if "suppressed" in table.column_names:
        table = table.drop_columns(["suppressed"])
    table = table.append_column("suppressed", hidden)
    when = as_of or judged_on()
    table = reporting.annotate(table, lake, manifest, when)
    seconds += time.perf_counter() - started
    name = f"results_{manifest.version:06d}_{time.time_ns()}.parquet"
    pq.write_table(table, folder / name, compression="zstd")
    meta = {
        "file": name,
        "rows": table.num_rows,
        "engine": engine,
        "seconds": round(seconds, 3),
        "lake_version": manifest.version,
        "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "as_of": when.isoformat(),
    }
    tmp = folder / f".current.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, folder / "current.json")
    files = sorted(folder.glob("results_*.parquet"))
    for old in files[:-KEEP]:
        if old.name != name:
            old.unlink()
    return meta


def judged_on() -> date:
    """The day reporting deadlines and relative periods are judged on: `PHIP_AS_OF`, else today."""
    from phip.settings import get_settings

    return get_settings().as_of or date.today()


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


_SUPPRESS = "r.suppressed"
#: ancestors' org-unit code columns, coarsest first (their depth is the index in `LEVELS`)
_ANCESTORS = ("province_code", "prefecture_code", "county_code", "township_code")


def periodic() -> frozenset[str]:
    """Indicators whose value in a period adds up from the periods within it (or is bounded by
    them): those counting events or spans. A state's is its value at the period's end."""
    return frozenset(
        i.id
        for i in catalogue().values()
        if any(m is not None and sources()[m.source].mode != "state" for m in (i.numerator, i.denominator))
    )


def _places(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """`name`: code and the codes of its coarser levels (NULL where the table has no column)."""
    con.register(f"{name}_in", table)
    have = set(table.column_names)
    cols = ", ".join(c if c in have else f"CAST(NULL AS VARCHAR) AS {c}" for c in _ANCESTORS)
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT DISTINCT code, {cols} FROM {name}_in")


def people() -> frozenset[str]:
    """Indicators counting residents: only their small cells are suppressed (a count of
    facilities, beds or staff posts, or a published population figure, identifies nobody)."""
    return frozenset(i.id for i in catalogue().values() if i.about_people)


def suppress(
    table: pa.Table,
    units: pa.Table,
    facilities: pa.Table,
    periodic: frozenset[str] = frozenset(),
    people: frozenset[str] | None = None,
) -> pa.ChunkedArray:
    """Which rows of a results table (`compute.RESULT_SCHEMA`) to suppress: those resting on
    1-4 records, and the complementary cells that keep them from being derived by subtraction
    within any group of cells that adds up to a published total (see the module's docstring).
    `units` and `facilities` give each code's coarser codes (`province_code` ...
    `township_code`); `periodic` are the indicators whose periods add up; `people` those whose
    small cells are hidden (None: every indicator).

    Deterministic: the cell hidden as a complement is the group's smallest shown one (fewest
    numerator, then denominator records; cells resting on no record last; then by its
    coordinates), preferring the group's members to its total. Cells are numbered by their
    coordinates (indicator, org unit, period, category: small tables, see `_dimensions`), so a
    cell's totals are found by arithmetic and integer joins."""
    n = table.num_rows
    if n == 0:
        return pa.chunked_array([pa.array([], pa.bool_())])
    con = duckdb.connect()
    try:
        names = ["indicator", "level", "org_unit", "period_type", "period", "breakdown", "category"]
        cells = table.select([*names, "numerator_records", "denominator_records"])
        con.register("cells_raw", cells.append_column("_i", pa.array(range(n), pa.int64())))
        # a missing coordinate is a value of its own (no row may fall out of a join unprotected)
        coords = ", ".join(f"coalesce({c}, chr(0)) AS {c}" for c in names if c != "category")
        con.execute(
            f"CREATE TEMP TABLE cells_in AS SELECT _i, {coords}, category, numerator_records, "
            "denominator_records FROM cells_raw"
        )
        _places(con, "units", units)
        _places(con, "facilities", facilities)
        con.register("periodic", pa.table({"indicator": pa.array(sorted(periodic), pa.string())}))
        counted = sorted(set(table.column("indicator").to_pylist()) if people is None else people)
        con.register("people", pa.table({"indicator": pa.array(counted, pa.string())}))
        _dimensions(con)
        [(no, np_, nk, total_cat, breakdowns)] = con.execute(
            "SELECT (SELECT count(*) FROM orgs), (SELECT count(*) FROM pers), (SELECT count(*) FROM cats), "
            "(SELECT coalesce(min(id), -1) FROM cats WHERE kind = 0), (SELECT max(kind) FROM cats)"
        ).fetchall()

        [(ni,)] = con.execute("SELECT count(*) FROM inds").fetchall()
        if ni * no * np_ * nk * (3 + int(breakdowns)) >= 2**62:
            raise ValueError("too many cells to number in 64 bits")

        def key(ind: str, org: str, per: str, cat: str) -> str:
            """A cell's number from its coordinates' (each below its table's size)."""
            return f"((({ind}) * {no} + ({org})) * {np_} + ({per})) * {nk} + ({cat})"

        cap = 2**31 - 1
        con.execute(
            f"""
            CREATE TEMP TABLE c AS
            SELECT t._i, i.id AS ind, o.id AS org, p.id AS per, k.id AS cat, k.kind, i.periodic,
                   o.depth, o.a0, o.a1, o.a2, o.a3, p.month, p.quarter, p.year, p.week,
                   {key("i.id", "o.id", "p.id", "k.id")} AS key,
                   -- the order complements are chosen in: cells resting on some record first,
                   -- fewest numerator records, fewest denominator records, then the cell's number
                   ((((CASE WHEN nr = 0 AND dr = 0 THEN 1 ELSE 0 END)::BIGINT << 62)
                     | (least(nr, {cap}) << 31) | least(dr, {cap}))::HUGEINT << 63)
                     + {key("i.id", "o.id", "p.id", "k.id")} AS pref,
                   i.people AND ((nr BETWEEN 1 AND {SMALL_CELL - 1}) OR (dr BETWEEN 1 AND {SMALL_CELL - 1}))
                     AS small
            FROM (
                SELECT *, coalesce(numerator_records, 0)::BIGINT AS nr,
                       coalesce(denominator_records, 0)::BIGINT AS dr
                FROM cells_in
            ) t
            JOIN inds i ON i.indicator = t.indicator
            JOIN orgs o ON o.level = t.level AND o.org_unit = t.org_unit
            JOIN pers p ON p.period_type = t.period_type AND p.period = t.period
            JOIN cats k ON k.breakdown = t.breakdown AND k.category = coalesce(t.category, chr(0))
            """
        )
        [(cells_n, keys_n)] = con.execute("SELECT count(*), count(DISTINCT key) FROM c").fetchall()
        if cells_n != n or keys_n != n:
            raise ValueError("the results hold the same cell twice")
        con.execute("CREATE TEMP TABLE ks AS SELECT key FROM c")
        # a group's number: its total's number × `width` + its kind (0: the org units under a
        # parent, 1: the periods within a longer one, 2: the days of a week, 3...: a breakdown's
        # categories under their total)
        width = 3 + int(breakdowns)

        def org_up(j: int) -> str:
            return f"CASE WHEN depth > {j} THEN {key('ind', f'a{j}', 'per', 'cat')} END"

        def per_up(column: str) -> str:
            return key("ind", "org", column, "cat")

        # every cell with the totals it adds up to (one narrow pass per kind of group): the
        # nearest coarser org unit holding the cell, the nearest longer period, the day's week,
        # the breakdown's total
        con.execute(
            f"""
            CREATE TEMP TABLE edges AS
            SELECT x.key, coalesce(k3.key, k2.key, k1.key, k0.key) * {width} AS gid
            FROM (SELECT key, {", ".join(f"{org_up(j)} AS o{j}" for j in range(4))} FROM c WHERE depth > 0) x
            {" ".join(f"LEFT JOIN ks k{j} ON k{j}.key = x.o{j}" for j in range(4))}
            """
        )
        con.execute(
            f"""
            INSERT INTO edges
            SELECT x.key, coalesce(km.key, kq.key, ky.key) * {width} + 1
            FROM (
                SELECT key, {per_up("month")} AS pm, {per_up("quarter")} AS pq, {per_up("year")} AS py
                FROM c WHERE periodic AND coalesce(month, quarter, year) IS NOT NULL
            ) x
            LEFT JOIN ks km ON km.key = x.pm LEFT JOIN ks kq ON kq.key = x.pq LEFT JOIN ks ky ON ky.key = x.py
            """
        )
        con.execute(
            f"""
            INSERT INTO edges
            SELECT x.key, x.up * {width} + 2
            FROM (SELECT key, {per_up("week")} AS up FROM c WHERE periodic AND week IS NOT NULL) x
            JOIN ks ON ks.key = x.up
            """
        )
        con.execute(
            f"""
            INSERT INTO edges
            SELECT x.key, x.up * {width} + 2 + x.kind
            FROM (SELECT key, kind, {key("ind", "org", "per", str(total_cat))} AS up FROM c WHERE kind > 0) x
            JOIN ks ON ks.key = x.up
            """
        )
        # groups and their cells by rank (the order complements are chosen in)
        con.execute("CREATE TEMP TABLE rank AS SELECT key, row_number() OVER (ORDER BY pref) AS rk FROM c")
        con.execute(
            f"""
            CREATE TEMP TABLE member AS
            SELECT e.gid, r.rk, false AS is_total FROM edges e JOIN rank r USING (key) WHERE e.gid IS NOT NULL
            UNION ALL
            SELECT g.gid, r.rk, true
            FROM (SELECT DISTINCT gid FROM edges WHERE gid IS NOT NULL) g
            JOIN rank r ON r.key = g.gid // {width}
            """
        )
        con.execute("CREATE TEMP TABLE hidden AS SELECT r.rk FROM c JOIN rank r USING (key) WHERE c.small")
        con.execute("CREATE TEMP TABLE fresh AS SELECT rk FROM hidden")
        while True:
            con.execute(
                """
                CREATE OR REPLACE TEMP TABLE picks AS
                WITH touched AS (SELECT DISTINCT g.gid FROM member g JOIN fresh USING (rk)),
                tally AS (
                    SELECT g.gid, count(h.rk) AS unknown,
                           min(g.rk) FILTER (WHERE h.rk IS NULL AND NOT g.is_total) AS part,
                           min(g.rk) FILTER (WHERE h.rk IS NULL AND g.is_total) AS total
                    FROM member g JOIN touched USING (gid) LEFT JOIN hidden h USING (rk)
                    GROUP BY g.gid
                )
                SELECT DISTINCT coalesce(part, total) AS rk FROM tally
                WHERE unknown = 1 AND coalesce(part, total) IS NOT NULL
                """
            )
            [(added,)] = con.execute("SELECT count(*) FROM picks").fetchall()
            if not added:
                break
            con.execute("INSERT INTO hidden SELECT rk FROM picks")
            con.execute("CREATE OR REPLACE TEMP TABLE fresh AS SELECT rk FROM picks")
        mask = con.sql(
            "SELECT h.rk IS NOT NULL AS suppressed FROM c JOIN rank r USING (key) "
            "LEFT JOIN hidden h USING (rk) ORDER BY c._i"
        ).to_arrow_table()["suppressed"]
    finally:
        con.close()
    if len(mask) != n:
        raise ValueError("suppression lost rows")
    return mask


def _dimensions(con: duckdb.DuckDBPyConnection) -> None:
    """The coordinates of the cells of `cells_in`, each numbered in a small table: `inds`
    (indicator, periodic, people), `orgs` (level, org unit, depth, and the numbers of its coarser org
    units that hold cells: `a0` province ... `a3` township), `pers` (period type, period, and the
    numbers of its month, quarter, year and ISO week) and `cats` (breakdown, category, and `kind`:
    0 for the totals, else the breakdown's number)."""
    con.execute(
        """
        CREATE TEMP TABLE inds AS
        SELECT (row_number() OVER (ORDER BY indicator) - 1)::BIGINT AS id, indicator,
               indicator IN (SELECT indicator FROM periodic) AS periodic,
               indicator IN (SELECT indicator FROM people) AS people
        FROM (SELECT DISTINCT indicator FROM cells_in)
        """
    )
    depth = " ".join(f"WHEN '{lv}' THEN {i}" for i, lv in enumerate(LEVELS))
    ancestors = ", ".join(f"coalesce(f.{c}, u.{c}) AS c{i}" for i, c in enumerate(_ANCESTORS))
    con.execute(
        f"""
        CREATE TEMP TABLE org_codes AS
        SELECT (row_number() OVER (ORDER BY d.level, d.org_unit) - 1)::BIGINT AS id, d.level, d.org_unit,
               CASE d.level {depth} ELSE -1 END AS depth, {ancestors}
        FROM (SELECT DISTINCT level, org_unit FROM cells_in) d
        LEFT JOIN units u ON d.level <> 'facility' AND u.code = d.org_unit
        LEFT JOIN facilities f ON d.level = 'facility' AND f.code = d.org_unit
        """
    )
    up = ", ".join(f"p{i}.id AS a{i}" for i in range(len(_ANCESTORS)))
    joins = " ".join(
        f"LEFT JOIN org_codes p{i} ON p{i}.level = '{LEVELS[i]}' AND p{i}.org_unit = o.c{i}"
        for i in range(len(_ANCESTORS))
    )
    con.execute(
        f"CREATE TEMP TABLE orgs AS SELECT o.id, o.level, o.org_unit, o.depth, {up} FROM org_codes o {joins}"
    )
    con.execute(
        """
        CREATE TEMP TABLE per_codes AS
        SELECT (row_number() OVER (ORDER BY period_type, period) - 1)::BIGINT AS id, period_type, period,
               CASE WHEN period_type IN ('day', 'month') THEN
                   substr(period, 1, 4) || 'Q' || ((TRY_CAST(substr(period, 6, 2) AS INTEGER) - 1) // 3 + 1)
               END AS quarter_label,
               CASE WHEN period_type = 'day' THEN
                   isoyear(TRY_CAST(period AS DATE)) || '-W'
                   || lpad(CAST(week(TRY_CAST(period AS DATE)) AS VARCHAR), 2, '0')
               END AS week_label
        FROM (SELECT DISTINCT period_type, period FROM cells_in)
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE pers AS
        SELECT p.id, p.period_type, p.period, m.id AS month, q.id AS quarter, y.id AS year, w.id AS week
        FROM per_codes p
        LEFT JOIN per_codes m ON p.period_type = 'day' AND m.period_type = 'month'
             AND m.period = substr(p.period, 1, 7)
        LEFT JOIN per_codes q ON q.period_type = 'quarter' AND q.period = p.quarter_label
        LEFT JOIN per_codes y ON p.period_type IN ('day', 'month', 'quarter') AND y.period_type = 'year'
             AND y.period = substr(p.period, 1, 4)
        LEFT JOIN per_codes w ON w.period_type = 'week' AND w.period = p.week_label
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE cats AS
        SELECT (row_number() OVER (ORDER BY breakdown, category) - 1)::BIGINT AS id, breakdown, category,
               CASE WHEN breakdown = '' THEN 0 ELSE dense_rank() OVER (ORDER BY breakdown) END AS kind
        FROM (SELECT DISTINCT breakdown, coalesce(category, chr(0)) AS category FROM cells_in)
        """
    )


def query(lake: Path, f: Filter, locale: str = "zh-CN", limit: int | None = None) -> list[dict[str, Any]]:
    """Result rows (suppressed where small, and where a small one could be derived from them)
    with indicator and org-unit names in `locale`."""
    meta = current(lake)
    path = (_folder(lake) / meta["file"]).as_posix()
    if "suppressed" not in pq.read_schema(path).names:
        # results saved before suppression was decided with them: show nothing rather than
        # cells that may give a small one away
        raise LakeError("the indicators were computed by an older release: run `phip indicators compute`")
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
    annotated = "complete" in pq.read_schema(path).names
    completeness = (
        "r.expected_reports, r.received_reports, r.period_ended, r.complete"
        if annotated
        else "NULL AS expected_reports, NULL AS received_reports, NULL AS period_ended, NULL AS complete"
    )
    sql = f"""
        SELECT r.indicator, n.name AS indicator_name, r.level, r.org_unit,
               coalesce(o.name, fc.name) AS org_unit_name, r.period_type, r.period, r.breakdown, r.category,
               CASE WHEN {_SUPPRESS} THEN NULL ELSE r.numerator END AS numerator,
               CASE WHEN {_SUPPRESS} THEN NULL ELSE r.denominator END AS denominator,
               CASE WHEN {_SUPPRESS} THEN NULL ELSE r.value END AS value,
               n.unit, {_SUPPRESS} AS suppressed, {completeness}
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

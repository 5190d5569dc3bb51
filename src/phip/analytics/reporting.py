"""Reporting completeness and timeliness (DHIS2's reporting rates) from the lake: every
facility-month batch a connected facility owed the platform, whether it came, and whether it came
by the deadline (day 10 of the next month), per facility and month, and added up per org unit
and period.

A connected facility owes one batch a month from its connection month (or from the platform's
first month with any batch, when it connected before the platform opened); a month is owed once its
deadline has passed on the day the platform judges (`as_of`, today unless set). An unconnected
facility owes nothing (the connection rate counts it). A period's cells are complete when the
period has ended and every batch owed for its months by the unit's facilities came; indicator
results carry this (`results.save`), so a cell resting on missing reports is marked, not shown
as a plain zero.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from phip.lake.manifest import Manifest
from phip.lake.reader import table_sql

DEADLINE_DAY = 10
LEVEL_COLUMNS = {
    "province": "province_code",
    "prefecture": "prefecture_code",
    "county": "county_code",
    "township": "township_code",
    "facility": "code",
}


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def due_through(as_of: date) -> str:
    """The last month whose batch was due by `as_of` (YYYY-MM)."""
    index = _month_index(as_of) - (1 if as_of.day > DEADLINE_DAY else 2)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def facility_months(con: duckdb.DuckDBPyConnection, lake: Path, manifest: Manifest, as_of: date) -> None:
    """Temp table `owed`: one row per facility-month owed (facility codes of every level, tier,
    month, received, on_time, first_sent), from each connected facility's connection month (or
    its first batch, when earlier; never before the platform's first month) through the last
    month due by `as_of`."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW rep_facility AS {table_sql(lake, manifest.tables['facility'])}")
    if "submission_batch" in manifest.tables:
        batches = table_sql(lake, manifest.tables["submission_batch"])
    else:
        batches = "SELECT CAST(NULL AS VARCHAR) AS facility, CAST(NULL AS VARCHAR) AS month, "
        batches += "CAST(NULL AS VARCHAR) AS first_sent WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP VIEW rep_batches AS {batches}")
    last = due_through(as_of)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE owed AS
        WITH got AS (
            SELECT facility, month, min(first_sent) AS first_sent FROM rep_batches
            WHERE facility IS NOT NULL AND month IS NOT NULL GROUP BY facility, month
        ),
        opened AS (SELECT min(month) AS month FROM got),
        span AS (
            SELECT f.code, greatest((SELECT month FROM opened), least(
                       coalesce(strftime(TRY_CAST(f.connected_since AS DATE), '%Y-%m'), '9999-12'),
                       coalesce((SELECT min(g.month) FROM got g WHERE g.facility = f.code), '9999-12')
                   )) AS first
            FROM rep_facility f
            WHERE coalesce(CAST(f.connected AS BOOLEAN), false)
        ),
        months AS (
            SELECT s.code, strftime(m.d, '%Y-%m') AS month
            FROM span s, LATERAL (
                SELECT unnest(generate_series(CAST(s.first || '-01' AS DATE), CAST('{last}-01' AS DATE),
                                              INTERVAL 1 MONTH)) AS d
            ) m
            WHERE s.first <= '{last}'
        )
        SELECT f.code, f.province_code, f.prefecture_code, f.county_code, f.township_code, f.tier,
               m.month, g.first_sent IS NOT NULL AS received,
               g.first_sent IS NOT NULL AND substr(g.first_sent, 1, 10) <= strftime(
                   CAST(m.month || '-01' AS DATE) + INTERVAL 1 MONTH + INTERVAL {DEADLINE_DAY - 1} DAY,
                   '%Y-%m-%d') AS on_time,
               g.first_sent
        FROM months m JOIN rep_facility f ON f.code = m.code
        LEFT JOIN got g ON g.facility = m.code AND g.month = m.month
        """
    )


#: the table `compute` registers for the catalogue's reporting source (one row per facility-month owed)
OWED_TABLE = "lake_reporting"


def owed_rows(lake: Path, manifest: Manifest, as_of: date) -> pa.Table:
    """Every facility-month owed by `as_of` (facility, date: the month's first day, received,
    on_time), for the catalogue's reporting indicators; empty when the lake has no facilities."""
    con = duckdb.connect()
    try:
        if "facility" in manifest.tables:
            facility_months(con, lake, manifest, as_of)
            sql = "SELECT code AS facility, CAST(month || '-01' AS DATE) AS date, received, on_time FROM owed"
        else:
            sql = (
                "SELECT CAST(NULL AS VARCHAR) AS facility, CAST(NULL AS DATE) AS date, "
                "CAST(NULL AS BOOLEAN) AS received, CAST(NULL AS BOOLEAN) AS on_time WHERE false"
            )
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def rates(lake: Path, manifest: Manifest, as_of: date) -> pa.Table:
    """Expected, received and on-time batches per level, org unit, period type (month, quarter,
    year) and period, with whether the period has ended by `as_of`."""
    con = duckdb.connect()
    try:
        facility_months(con, lake, manifest, as_of)
        return con.sql(_rates_sql(as_of)).to_arrow_table()
    finally:
        con.close()


def _rates_sql(as_of: date) -> str:
    periods = (
        "SELECT *, 'month' AS period_type, month AS period FROM owed "
        "UNION ALL SELECT *, 'quarter', substr(month, 1, 4) || 'Q' || "
        "CAST((CAST(substr(month, 6, 2) AS INT) + 2) // 3 AS VARCHAR) FROM owed "
        "UNION ALL SELECT *, 'year', substr(month, 1, 4) FROM owed"
    )
    parts = [
        f"SELECT '{level}' AS level, {col} AS org_unit, period_type, period, count(*) AS expected, "
        "count(*) FILTER (WHERE received) AS received, count(*) FILTER (WHERE on_time) AS on_time "
        f"FROM ({periods}) p WHERE {col} IS NOT NULL GROUP BY ALL"
        for level, col in LEVEL_COLUMNS.items()
    ]
    return " UNION ALL ".join(parts)


def period_end(period_type: str, period: str) -> date | None:
    """The last day of a period label (day, ISO week, month, quarter, year); None if unknown."""
    from datetime import timedelta

    try:
        if period_type == "year":
            return date(int(period), 12, 31)
        if period_type == "quarter":
            y, q = int(period[:4]), int(period[5:])
            return (date(y + (q == 4), 1 if q == 4 else 3 * q + 1, 1)) - timedelta(days=1)
        if period_type == "month":
            y, m = int(period[:4]), int(period[5:7])
            return date(y + (m == 12), 1 if m == 12 else m + 1, 1) - timedelta(days=1)
        if period_type == "week":
            return date.fromisocalendar(int(period[:4]), int(period[6:]), 7)
        if period_type == "day":
            return date.fromisoformat(period)
    except ValueError:
        return None
    return None


def annotate(table: pa.Table, lake: Path, manifest: Manifest, as_of: date) -> pa.Table:
    """Indicator results (`compute.RESULT_SCHEMA`) with the reports their cells rest on:
    `expected_reports` and `received_reports` (the unit's batches owed for the period's months;
    a day or week takes its month's), `period_ended` (by `as_of`) and `complete` (ended, its
    last month's batches due by `as_of`, and every batch owed came)."""
    for name in ("expected_reports", "received_reports", "period_ended", "complete"):
        if name in table.column_names:
            table = table.drop_columns([name])
    pairs = sorted(
        {
            (t, p)
            for t, p in zip(
                table.column("period_type").to_pylist(), table.column("period").to_pylist(), strict=True
            )
        }
    )
    ends = [period_end(t, p) for t, p in pairs]
    months = pa.table(
        {
            "period_type": [t for t, _ in pairs],
            "period": [p for _, p in pairs],
            "ended": [e is not None and e < as_of for e in ends],
            "rep_type": ["month" if t in ("day", "week") else t for t, _ in pairs],
            "rep_period": [
                e.strftime("%Y-%m") if t in ("day", "week") and e else p
                for (t, p), e in zip(pairs, ends, strict=True)
            ],
        }
    )
    last_due = due_through(as_of)
    months = months.append_column(
        "due",
        pa.array(
            [e is not None and e.strftime("%Y-%m") <= last_due for e in ends],
            pa.bool_(),
        ),
    )
    con = duckdb.connect()
    try:
        facility_months(con, lake, manifest, as_of)
        con.execute(f"CREATE TEMP TABLE rep AS {_rates_sql(as_of)}")
        con.register("res", table.append_column("_row", pa.array(range(table.num_rows), pa.int64())))
        con.register("pmap", months)
        out = con.sql(
            """
            SELECT res.* EXCLUDE (_row), rep.expected::BIGINT AS expected_reports,
                   rep.received::BIGINT AS received_reports, m.ended AS period_ended,
                   m.ended AND m.due AND coalesce(rep.received = rep.expected, true) AS complete
            FROM res
            JOIN pmap m ON m.period_type = res.period_type AND m.period = res.period
            LEFT JOIN rep ON rep.level = res.level AND rep.org_unit = res.org_unit
                 AND rep.period_type = m.rep_type AND rep.period = m.rep_period
            ORDER BY res._row
            """
        ).to_arrow_table()
    finally:
        con.close()
    return out

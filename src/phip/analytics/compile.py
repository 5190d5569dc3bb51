"""The catalogue compiled to SQL: one query per indicator computes it at every level, period and
breakdown at once (GROUPING SETS), numerator and denominator side by side. Written in DuckDB's
dialect and turned into Spark SQL by sqlglot, so both engines run the same definition."""

from __future__ import annotations

from functools import cache

import sqlglot

from phip.analytics.catalogue import Indicator, Measure, Source, sources
from phip.standards.agegroups import age_group_sql, age_sql

ORG_COLUMNS = {
    "province": "province_code",
    "prefecture": "prefecture_code",
    "county": "county_code",
    "township": "township_code",
    "facility": "facility_code",
}
KEYS = ("level", "org_unit", "period_type", "period", "breakdown", "category")


@cache
def source_columns(name: str) -> tuple[str, ...]:
    """The columns a source's query gives (read from its SQL, no engine needed)."""
    tree = sqlglot.parse_one(sources()[name].sql, read="duckdb")
    if not isinstance(tree, sqlglot.exp.Query):
        raise ValueError(f"source {name} is not a query")
    return tuple(tree.named_selects)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _expanded(src: Source, periods: tuple[str, ...]) -> str:
    """The source's rows, one per period they count in, with org-unit codes and breakdowns."""
    cols = source_columns(src.name)
    kinds = ", ".join(_q(p) for p in periods)
    if src.mode == "event":
        join = f"JOIN lake_calendar c ON c.day = s.date AND c.period_type IN ({kinds})"
        when = "CAST(s.date AS VARCHAR)"
    else:
        ends = "(s.end_date IS NULL OR s.end_date >= c.period_end)"
        if src.mode == "span":
            ends = "(s.end_date IS NULL OR s.end_date >= c.period_start)"
        join = (
            f"JOIN lake_periods c ON c.period_type IN ({kinds}) "
            f"AND (s.start_date IS NULL OR s.start_date <= c.period_end) AND {ends}"
        )
        when = "CAST(c.period_end AS VARCHAR)"
    has_person = "person_id" in cols
    own = [f"s.{c}" for c in cols if c not in ("sex", "age_group", "ethnicity", "poverty", "facility_type")]
    if src.org == "facility":
        org = [
            "fd.province_code",
            "fd.prefecture_code",
            "fd.county_code",
            "fd.township_code",
            "fd.code AS facility_code",
            "coalesce(fd.tier, 'unknown') AS facility_type",
        ]
        org_join = "LEFT JOIN facility fd ON fd.code = s.facility"
    else:
        org = [
            "ou.province_code",
            "ou.prefecture_code",
            "ou.county_code",
            "ou.township_code",
            "CAST(NULL AS VARCHAR) AS facility_code",
            "'unknown' AS facility_type",
        ]
        org_join = "LEFT JOIN org_unit ou ON ou.code = s.org_unit"
    person_join = "LEFT JOIN person ps ON ps.person_id = s.person_id" if has_person else ""
    sex = "s.sex" if "sex" in cols else "ps.gender" if has_person else "NULL"
    if "age_group" in cols:
        age = "s.age_group"
    elif has_person:
        age = f"CASE WHEN ps.birth_date IS NULL THEN NULL ELSE {age_sql('ps.birth_date', when)} END"
    else:
        age = "NULL"
    ethnicity = "ps.ethnicity" if has_person else "NULL"
    poverty = (
        "CASE WHEN ps.poverty THEN 'poor' WHEN ps.poverty IS NULL THEN NULL ELSE 'not-poor' END"
        if has_person
        else "NULL"
    )
    breakdown = [
        f"coalesce({sex}, 'unknown') AS sex",
        f"{age} AS age_value",
        f"coalesce({ethnicity}, 'unknown') AS ethnicity",
        f"coalesce({poverty}, 'unknown') AS poverty",
    ]
    period_cols = ["c.period_type", "c.period", "c.period_start", "c.period_end", "c.period_days"]
    select = ", ".join(own + period_cols + org + breakdown)
    inner = f"SELECT {select} FROM ({src.sql}) s {join} {org_join} {person_join}"
    group = "age_value" if "age_group" in cols else age_group_sql("age_value")
    return f"SELECT i.*, coalesce({group}, 'unknown') AS age_group FROM ({inner}) i"


def _aggregate(m: Measure) -> str:
    if m.aggregate == "count":
        return "count(*)"
    if m.aggregate == "persons":
        return "count(DISTINCT person_id)"
    if m.aggregate == "facilities":
        return "count(DISTINCT facility_code)"
    if m.aggregate == "distinct":
        return f"count(DISTINCT {m.expression})"
    return f"sum({m.expression})"


def _records(m: Measure) -> str:
    """What small-cell suppression looks at: the count itself, or the rows a sum adds up."""
    return _aggregate(m) if m.aggregate != "sum" else "count(*)"


def measure_sql(m: Measure, ind: Indicator) -> str:
    """One measure at every level × period × breakdown of the indicator (GROUPING SETS)."""
    src = sources()[m.source]
    orgs = [ORG_COLUMNS[lv] for lv in ind.levels]
    sets = []
    for col in orgs:
        sets.append(f"(period_type, period, {col})")
        sets.extend(f"(period_type, period, {col}, {b})" for b in ind.breakdowns)
    level = " ".join(f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {_q(lv)}" for lv in reversed(ind.levels))
    org_unit = " ".join(
        f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {ORG_COLUMNS[lv]}" for lv in reversed(ind.levels)
    )
    bd = " ".join(f"WHEN GROUPING({b}) = 0 THEN {_q(b)}" for b in ind.breakdowns)
    cat = " ".join(f"WHEN GROUPING({b}) = 0 THEN {b}" for b in ind.breakdowns)
    where = f"WHERE {m.filter}" if m.filter else ""
    return (
        f"SELECT * FROM (SELECT CASE {level} END AS level, CASE {org_unit} END AS org_unit, "
        "period_type, period, "
        f"{f'CASE {bd} ELSE {_q(chr(0))} END' if bd else _q(chr(0))} AS breakdown, "
        f"{f'CASE {cat} ELSE {_q(chr(0))} END' if cat else _q(chr(0))} AS category, "
        f"{_aggregate(m)} AS value, {_records(m)} AS records "
        f"FROM ({_expanded(src, ind.periods)}) x {where} "
        f"GROUP BY GROUPING SETS ({', '.join(sets)})) g WHERE org_unit IS NOT NULL"
    ).replace(_q(chr(0)), "''")


def indicator_sql(ind: Indicator, dialect: str = "duckdb") -> str:
    """The indicator's rows: indicator, level, org_unit, period_type, period, breakdown, category,
    numerator, denominator, value, numerator_records, denominator_records."""
    num = measure_sql(ind.numerator, ind)
    keys = ", ".join(KEYS)
    factor = repr(ind.factor)
    if ind.denominator is None:
        sql = (
            f"SELECT {_q(ind.id)} AS indicator, {keys}, CAST(value AS DOUBLE) AS numerator, "
            f"CAST(NULL AS DOUBLE) AS denominator, CAST(value AS DOUBLE) * {factor} AS value, "
            f"records AS numerator_records, CAST(NULL AS BIGINT) AS denominator_records FROM ({num}) n"
        )
    else:
        den = measure_sql(ind.denominator, ind)
        sql = (
            f"WITH num AS ({num}), den AS ({den}) "
            f"SELECT {_q(ind.id)} AS indicator, {keys}, "
            "CAST(coalesce(num.value, 0) AS DOUBLE) AS numerator, CAST(den.value AS DOUBLE) AS denominator, "
            "CASE WHEN den.value IS NULL OR den.value = 0 THEN NULL "
            f"ELSE CAST(coalesce(num.value, 0) AS DOUBLE) * {factor} / CAST(den.value AS DOUBLE) "
            "END AS value, "
            "coalesce(num.records, 0) AS numerator_records, den.records AS denominator_records "
            f"FROM num FULL OUTER JOIN den USING ({keys})"
        )
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]

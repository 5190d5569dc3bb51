"""The catalogue compiled to SQL: one query per indicator computes it at every level, period and
breakdown at once (GROUPING SETS), numerator and denominator side by side. Written in DuckDB's
dialect and turned into Spark SQL by sqlglot, so both engines run the same definition."""

from __future__ import annotations

from functools import cache

import sqlglot

from phip.analytics.catalogue import Indicator, Measure, Source, sources
from phip.lake.dialect import quote as _q
from phip.standards.agegroups import age_group_sql, age_sql

ORG_COLUMNS = {
    "province": "province_code",
    "prefecture": "prefecture_code",
    "county": "county_code",
    "township": "township_code",
    "facility": "facility_code",
}
KEYS = ("level", "org_unit", "period_type", "period", "breakdown", "category")
#: breakdowns are computed for these periods (daily and weekly series are totals)
BREAKDOWN_PERIODS = ("month", "quarter", "year")


@cache
def source_columns(name: str) -> tuple[str, ...]:
    """The columns a source's query gives (read from its SQL, no engine needed)."""
    tree = sqlglot.parse_one(sources()[name].sql, read="duckdb")
    if not isinstance(tree, sqlglot.exp.Query):
        raise ValueError(f"source {name} is not a query")
    return tuple(tree.named_selects)


_BREAKDOWN_COLUMNS = ("sex", "age_group", "ethnicity", "poverty", "facility_type")
_ORG = ("province_code", "prefecture_code", "county_code", "township_code", "facility_code")
_KEEP = (*_ORG, "facility_type", "sex", "ethnicity", "poverty")


def _base(src: Source) -> str:
    """The source's rows with their org-unit codes and the person attributes breakdowns use
    (`birth_date` for the age group, computed where the reference day is known)."""
    cols = source_columns(src.name)
    has_person = "person_id" in cols
    own = [f"s.{c}" for c in cols if c not in _BREAKDOWN_COLUMNS]
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
    ethnicity = "ps.ethnicity" if has_person else "NULL"
    poverty = (
        "CASE WHEN ps.poverty THEN 'poor' WHEN ps.poverty IS NULL THEN NULL ELSE 'not-poor' END"
        if has_person
        else "NULL"
    )
    attrs = [
        f"coalesce({sex}, 'unknown') AS sex",
        f"coalesce({ethnicity}, 'unknown') AS ethnicity",
        f"coalesce({poverty}, 'unknown') AS poverty",
        f"{'s.age_group' if 'age_group' in cols else 'CAST(NULL AS VARCHAR)'} AS given_age_group",
        f"{'ps.birth_date' if has_person else 'CAST(NULL AS VARCHAR)'} AS birth_date",
    ]
    return f"SELECT {', '.join(own + org + attrs)} FROM ({src.sql}) s {org_join} {person_join}"


def _age_group(day: str) -> str:
    """The age group on `day` (a DATE expression): the source's own, else from the birth date."""
    age = age_group_sql(age_sql("birth_date", f"CAST({day} AS VARCHAR)"))
    return f"coalesce(given_age_group, CASE WHEN birth_date IS NULL THEN 'unknown' ELSE {age} END)"


def _uses_period(m: Measure) -> bool:
    """Whether the measure needs its rows placed in periods first (its filter or value uses the
    period, or the age group, which is known only once the reference day is)."""
    return any(w in (x or "") for x in (m.filter, m.expression) for w in ("period_", "age_group"))


def _kinds(periods: tuple[str, ...]) -> str:
    return ", ".join(_q(p) for p in periods)


def _pre_aggregated(src: Source, m: Measure, periods: tuple[str, ...]) -> str:
    """Counts and sums of events: first added up per day, org unit and breakdown (far fewer rows
    than events), then placed in their periods."""
    value = "count(*)" if m.aggregate == "count" else f"sum({m.expression})"
    keep = ", ".join(_KEEP)
    where = f"WHERE {m.filter}" if m.filter else ""
    daily = (
        f"SELECT date, {keep}, {_age_group('date')} AS age_group, {value} AS value, count(*) AS records "
        f"FROM ({_base(src)}) b {where} GROUP BY date, {keep}, {_age_group('date')}"
    )
    return (
        f"SELECT c.period_type, c.period, {', '.join('d.' + k for k in _KEEP)}, d.age_group, "
        "d.value, d.records "
        f"FROM ({daily}) d JOIN lake_calendar c ON c.day = d.date AND c.period_type IN ({_kinds(periods)})"
    )


def _distinct_key(m: Measure) -> str:
    if m.aggregate == "persons":
        return "person_id"
    if m.aggregate == "facilities":
        return "facility_code"
    return str(m.expression)


def _deduplicated(src: Source, m: Measure, periods: tuple[str, ...]) -> str:
    """Distinct counts of events: each key once per day and org unit, then once per period
    (age group at the period's end, so a person has one in a period)."""
    keep = ", ".join(_KEEP)
    where = f"WHERE {m.filter}" if m.filter else ""
    daily = (
        f"SELECT DISTINCT {_distinct_key(m)} AS k, date, {keep}, given_age_group, birth_date "
        f"FROM ({_base(src)}) b {where}"
    )
    per_period = (
        f"SELECT DISTINCT d.k, c.period_type, c.period, c.period_end, "
        f"{', '.join('d.' + k for k in _KEEP)}, d.given_age_group, d.birth_date "
        f"FROM ({daily}) d JOIN lake_calendar c ON c.day = d.date AND c.period_type IN ({_kinds(periods)})"
    )
    return f"SELECT p.*, {_age_group('period_end')} AS age_group FROM ({per_period}) p"


def _expanded(src: Source, m: Measure, periods: tuple[str, ...]) -> str:
    """States and spans (and anything whose filter or value needs the period): the source's
    rows, one per period they count in; age group at the period's end."""
    if src.mode == "event":
        join = f"JOIN lake_calendar c ON c.day = b.date AND c.period_type IN ({_kinds(periods)})"
    else:
        ends = "(b.end_date IS NULL OR b.end_date >= c.period_end)"
        if src.mode == "span":
            ends = "(b.end_date IS NULL OR b.end_date >= c.period_start)"
        join = (
            f"JOIN lake_periods c ON c.period_type IN ({_kinds(periods)}) "
            f"AND (b.start_date IS NULL OR b.start_date <= c.period_end) AND {ends}"
        )
    period_cols = "c.period_type, c.period, c.period_start, c.period_end, c.period_days"
    inner = f"SELECT b.*, {period_cols} FROM ({_base(src)}) b {join}"
    where = f"WHERE {m.filter}" if m.filter else ""
    aged = f"SELECT i.*, {_age_group('period_end')} AS age_group FROM ({inner}) i"
    return f"SELECT * FROM ({aged}) a {where}"


def _aggregate(m: Measure) -> str:
    if m.aggregate == "count":
        return "count(*)"
    if m.aggregate in ("persons", "facilities", "distinct"):
        return f"count(DISTINCT {_distinct_key(m)})"
    return f"sum({m.expression})"


def _records(m: Measure) -> str:
    """What small-cell suppression looks at: the count itself, or the rows a sum adds up."""
    return _aggregate(m) if m.aggregate != "sum" else "count(*)"


def measure_sql(m: Measure, ind: Indicator, name: str = "rows") -> tuple[str, str]:
    """One measure at every level × period × breakdown of the indicator (GROUPING SETS).

    Events counted or summed are added up per day first; events counted distinct are made
    distinct per day and period first; states and spans are placed in their periods directly."""
    src = sources()[m.source]
    # a resident lives in one township and has one set of attributes in a period: once made
    # distinct per period, persons are counted by counting rows (no DISTINCT per grouping set)
    unique = m.aggregate == "persons" and src.org == "residence"
    if src.mode == "event" and not _uses_period(m) and m.aggregate in ("count", "sum"):
        rows, value, records = _pre_aggregated(src, m, ind.periods), "sum(value)", "sum(records)"
    elif src.mode == "event" and not _uses_period(m):
        rows = _deduplicated(src, m, ind.periods)
        value = records = "count(*)" if unique else "count(DISTINCT k)"
    elif unique:
        keep = ", ".join(("period_type", "period", *_KEEP, "age_group"))
        rows = f"SELECT DISTINCT person_id, {keep} FROM ({_expanded(src, m, ind.periods)}) e"
        value = records = "count(*)"
    else:
        rows, value, records = _expanded(src, m, ind.periods), _aggregate(m), _records(m)
    return rows, grouped(ind, name, [("value", value), ("records", records)])


def _flag(m: Measure) -> str:
    return f"({m.filter})" if m.filter else "TRUE"


def fused_rows(ind: Indicator) -> tuple[str, list[tuple[str, str]]] | None:
    """One pass for a numerator and denominator over the same source's events (same path, same
    key): its rows carry both measures (conditional aggregates, or flags saying which measure a
    key counts in), so the source is read, joined and placed in periods once, not twice, and no
    join of the two results is needed. None when the two cannot share a pass.

    The result equals the two computed apart: a cell exists when either measure has rows in it;
    a measure with no rows in a cell is NULL there (the numerator is then shown as 0)."""
    n, d = ind.numerator, ind.denominator
    if d is None or d.source != n.source:
        return None
    src = sources()[n.source]
    if src.mode != "event" or _uses_period(n) or _uses_period(d):
        return None
    keep = ", ".join(_KEEP)
    where = f"WHERE {_flag(n)} OR {_flag(d)}"
    summed = ("count", "sum")
    if n.aggregate in summed and d.aggregate in summed:

        def value(m: Measure) -> str:
            return "1" if m.aggregate == "count" else str(m.expression)

        cols = ", ".join(
            f"sum(CASE WHEN {_flag(m)} THEN {value(m)} END) AS {side}_value, "
            f"sum(CASE WHEN {_flag(m)} THEN 1 END) AS {side}_records"
            for side, m in (("num", n), ("den", d))
        )
        daily = (
            f"SELECT date, {keep}, {_age_group('date')} AS age_group, {cols} "
            f"FROM ({_base(src)}) b {where} GROUP BY date, {keep}, {_age_group('date')}"
        )
        rows = (
            f"SELECT c.period_type, c.period, {', '.join('d.' + k for k in _KEEP)}, d.age_group, "
            "d.num_value, d.num_records, d.den_value, d.den_records "
            f"FROM ({daily}) d JOIN lake_calendar c ON c.day = d.date "
            f"AND c.period_type IN ({_kinds(ind.periods)})"
        )
        sums = [(f"{side}_{v}", f"sum({side}_{v})") for side in ("num", "den") for v in ("value", "records")]
        return rows, sums
    if n.aggregate in summed or d.aggregate in summed or _distinct_key(n) != _distinct_key(d):
        return None
    # distinct keys: each key once per day, then once per period, flagged by the measures it is in
    flags = f"max(CASE WHEN {_flag(n)} THEN 1 ELSE 0 END) AS in_num, " + (
        f"max(CASE WHEN {_flag(d)} THEN 1 ELSE 0 END) AS in_den"
    )
    key = _distinct_key(n)
    daily = (
        f"SELECT {key} AS k, date, {keep}, given_age_group, birth_date, {flags} "
        f"FROM ({_base(src)}) b {where} GROUP BY {key}, date, {keep}, given_age_group, birth_date"
    )
    kept = ", ".join("d." + k for k in _KEEP)
    per_period = (
        f"SELECT d.k, c.period_type, c.period, c.period_end, {kept}, d.given_age_group, d.birth_date, "
        "max(d.in_num) AS in_num, max(d.in_den) AS in_den "
        f"FROM ({daily}) d JOIN lake_calendar c ON c.day = d.date "
        f"AND c.period_type IN ({_kinds(ind.periods)}) "
        f"GROUP BY d.k, c.period_type, c.period, c.period_end, {kept}, d.given_age_group, d.birth_date"
    )
    rows = f"SELECT p.*, {_age_group('period_end')} AS age_group FROM ({per_period}) p"
    if n.aggregate == "persons" and src.org == "residence":
        # one row per person and period (see measure_sql): persons are counted by counting rows
        counts = [(side, f"sum(CASE WHEN in_{side} = 1 THEN 1 END)") for side in ("num", "den")]
    else:
        counts = [
            (side, f"nullif(count(DISTINCT CASE WHEN in_{side} = 1 THEN k END), 0)")
            for side in ("num", "den")
        ]
    return rows, [(f"{side}_{v}", sql) for side, sql in counts for v in ("value", "records")]


def grouped(ind: Indicator, name: str, values: list[tuple[str, str]]) -> str:
    """The aggregates `values` ((alias, SQL) pairs) of the rows `name` at every level, period and
    breakdown of the indicator, in one GROUPING SETS query."""
    orgs = [ORG_COLUMNS[lv] for lv in ind.levels]
    level = " ".join(f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {_q(lv)}" for lv in reversed(ind.levels))
    org_unit = " ".join(
        f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {ORG_COLUMNS[lv]}" for lv in reversed(ind.levels)
    )
    head = f"SELECT CASE {level} END AS level, CASE {org_unit} END AS org_unit, period_type, period"
    tail = f"{', '.join(f'{sql} AS {alias}' for alias, sql in values)} FROM {name} x"
    totals = ", ".join(f"(period_type, period, {col})" for col in orgs)
    parts = [f"{head}, '' AS breakdown, '' AS category, {tail} GROUP BY GROUPING SETS ({totals})"]
    coarse = [p for p in ind.periods if p in BREAKDOWN_PERIODS]
    if ind.breakdowns and coarse:
        sets = ", ".join(f"(period_type, period, {col}, {b})" for col in orgs for b in ind.breakdowns)
        bd = " ".join(f"WHEN GROUPING({b}) = 0 THEN {_q(b)}" for b in ind.breakdowns)
        cat = " ".join(f"WHEN GROUPING({b}) = 0 THEN {b}" for b in ind.breakdowns)
        parts.append(
            f"{head}, CASE {bd} END AS breakdown, CASE {cat} END AS category, {tail} "
            f"WHERE period_type IN ({_kinds(tuple(coarse))}) GROUP BY GROUPING SETS ({sets})"
        )
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) g WHERE org_unit IS NOT NULL"


def base_table(source: str) -> str:
    """The name a source's rows (`_base`) are kept under when several passes share them."""
    return f"lake_base_{source}"


def base_sql(source: str, dialect: str = "duckdb") -> str:
    """A source's rows with org units and person attributes, as every measure of it reads them."""
    sql = _base(sources()[source])
    return sql if dialect == "duckdb" else sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def passes(indicators: list[Indicator], fuse: bool = True) -> dict[str, int]:
    """How many times computing `indicators` reads each source (a fused pair reads it once)."""
    out: dict[str, int] = {}
    for ind in indicators:
        measures = (
            [ind.numerator] if fuse and fused_rows(ind) is not None else [ind.numerator, ind.denominator]
        )
        for m in measures:
            if m is not None:
                out[m.source] = out.get(m.source, 0) + 1
    return out


def indicator_sql(
    ind: Indicator, dialect: str = "duckdb", fuse: bool = True, shared: frozenset[str] = frozenset()
) -> str:
    """The indicator's rows: indicator, level, org_unit, period_type, period, breakdown, category,
    numerator, denominator, value, numerator_records, denominator_records.

    A numerator and denominator counted from the same source's events are computed in one pass
    over it (`fuse`, see `fused_rows`); otherwise each is computed apart and the two joined.
    The rows of the sources in `shared` are read from `base_table` (computed once by the caller
    for all the indicators that read them) instead of being computed here."""
    sql = _indicator_sql(ind, dialect, fuse)
    for name in sorted(shared):
        sql = sql.replace(f"({_base(sources()[name])})", base_table(name))
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def _indicator_sql(ind: Indicator, dialect: str, fuse: bool) -> str:
    """The indicator's query in DuckDB's dialect (`dialect` only decides on materialisation)."""
    # a measure's rows feed both its totals and its breakdowns: computed once (a materialised
    # common table expression on DuckDB; Spark reuses the exchange)
    keep = " MATERIALIZED" if dialect == "duckdb" else ""
    keys = ", ".join(KEYS)
    factor = repr(ind.factor)
    both = fused_rows(ind) if fuse else None
    if both is not None:
        rows, values = both
        ctes = [f"both_rows AS{keep} ({rows})", f"g AS ({grouped(ind, 'both_rows', values)})"]
        body = (
            f"SELECT {_q(ind.id)} AS indicator, {keys}, "
            "CAST(coalesce(num_value, 0) AS DOUBLE) AS numerator, CAST(den_value AS DOUBLE) AS denominator, "
            "CASE WHEN den_value IS NULL OR den_value = 0 THEN NULL "
            f"ELSE CAST(coalesce(num_value, 0) AS DOUBLE) * {factor} / CAST(den_value AS DOUBLE) "
            "END AS value, "
            "coalesce(num_records, 0) AS numerator_records, den_records AS denominator_records FROM g"
        )
        return f"WITH {', '.join(ctes)} {body}"
    num_rows, num = measure_sql(ind.numerator, ind, "num_rows")
    ctes = [f"num_rows AS{keep} ({num_rows})", f"num AS ({num})"]
    if ind.denominator is None:
        body = (
            f"SELECT {_q(ind.id)} AS indicator, {keys}, CAST(value AS DOUBLE) AS numerator, "
            f"CAST(NULL AS DOUBLE) AS denominator, CAST(value AS DOUBLE) * {factor} AS value, "
            "records AS numerator_records, CAST(NULL AS BIGINT) AS denominator_records FROM num"
        )
    else:
        den_rows, den = measure_sql(ind.denominator, ind, "den_rows")
        ctes += [f"den_rows AS{keep} ({den_rows})", f"den AS ({den})"]
        body = (
            f"SELECT {_q(ind.id)} AS indicator, {keys}, "
            "CAST(coalesce(num.value, 0) AS DOUBLE) AS numerator, CAST(den.value AS DOUBLE) AS denominator, "
            "CASE WHEN den.value IS NULL OR den.value = 0 THEN NULL "
            f"ELSE CAST(coalesce(num.value, 0) AS DOUBLE) * {factor} / CAST(den.value AS DOUBLE) "
            "END AS value, "
            "coalesce(num.records, 0) AS numerator_records, den.records AS denominator_records "
            f"FROM num FULL OUTER JOIN den USING ({keys})"
        )
    return f"WITH {', '.join(ctes)} {body}"

"""The catalogue compiled to SQL: one query per indicator computes it at every level, period and
breakdown at once (GROUPING SETS), numerator and denominator side by side. Written in DuckDB's
dialect and translated by the engine's dialect (sqlglot), so every engine runs the same definition.

A measure's rows (`rows`) are placed in periods and, when they add up, first added up per
period, org unit and attributes; the grouping sets then add up those far fewer rows."""

from __future__ import annotations

from phip.analytics import rows as R
from phip.analytics.catalogue import Indicator, sources
from phip.analytics.facts import fact_table
from phip.analytics.rows import BREAKDOWN_PERIODS, Rows, Shape, attributes, can_fuse, source_columns
from phip.analytics.shape import unit_map
from phip.engines.dialects import Dialect, dialect
from phip.engines.dialects import quote as _q

__all__ = ["base_sql", "base_table", "grouped", "indicator_sql", "passes", "source_columns"]

ORG_COLUMNS = {
    "province": "province_code",
    "prefecture": "prefecture_code",
    "county": "county_code",
    "township": "township_code",
    "facility": "facility_code",
}
KEYS = ("level", "org_unit", "period_type", "period", "breakdown", "category")


def _with_levels(rows: str, org: str) -> str:
    """The rows `rows` (with their finest org-unit code, `unit`) joined with the codes of every
    level of that unit (`shape.unit_map`)."""
    return f"{rows} x LEFT JOIN ({unit_map(org)}) o ON o.map_unit = x.unit"


def grouped(ind: Indicator, name: str, values: list[tuple[str, str]], org: str) -> str:
    """The aggregates `values` ((alias, SQL) pairs) of the rows `name` (placed by `org`) at every
    level, period and breakdown of the indicator, in one GROUPING SETS query."""
    orgs = [ORG_COLUMNS[lv] for lv in ind.levels]
    level = " ".join(f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {_q(lv)}" for lv in reversed(ind.levels))
    org_unit = " ".join(
        f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {ORG_COLUMNS[lv]}" for lv in reversed(ind.levels)
    )
    head = f"SELECT CASE {level} END AS level, CASE {org_unit} END AS org_unit, period_type, period"
    tail = f"{', '.join(f'{sql} AS {alias}' for alias, sql in values)} FROM {_with_levels(name, org)}"
    totals = ", ".join(f"(period_type, period, {col})" for col in orgs)
    parts = [f"{head}, '' AS breakdown, '' AS category, {tail} GROUP BY GROUPING SETS ({totals})"]
    coarse = [p for p in ind.periods if p in BREAKDOWN_PERIODS]
    if ind.breakdowns and coarse:
        sets = ", ".join(f"(period_type, period, {col}, {b})" for col in orgs for b in ind.breakdowns)
        bd = " ".join(f"WHEN GROUPING({b}) = 0 THEN {_q(b)}" for b in ind.breakdowns)
        cat = " ".join(f"WHEN GROUPING({b}) = 0 THEN {b}" for b in ind.breakdowns)
        parts.append(
            f"{head}, CASE {bd} END AS breakdown, CASE {cat} END AS category, {tail} "
            f"WHERE period_type IN ({', '.join(_q(p) for p in coarse)}) GROUP BY GROUPING SETS ({sets})"
        )
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) g WHERE org_unit IS NOT NULL"


def rolled_up(ind: Indicator, name: str, values: list[tuple[str, str]], keep: str, org: str) -> list[str]:
    """`grouped` for aggregates that add up, in two steps: each breakdown (and the total) first
    added up per period and org unit (`{name}_units`), then every level added up from those
    rows, joined with the units' levels: the rows are read once per breakdown, not once per
    breakdown and level."""
    orgs = [ORG_COLUMNS[lv] for lv in ind.levels]
    sums = ", ".join(f"{sql} AS {alias}" for alias, sql in values)
    parts = [
        f"SELECT period_type, period, unit, '' AS breakdown, '' AS category, {sums} FROM {name}_fine x "
        f"GROUP BY period_type, period, unit"
    ]
    coarse = [p for p in ind.periods if p in BREAKDOWN_PERIODS]
    if coarse:
        kinds = ", ".join(_q(p) for p in coarse)
        parts += [
            f"SELECT period_type, period, unit, {_q(b)} AS breakdown, {b} AS category, {sums} "
            f"FROM {name}_fine x WHERE period_type IN ({kinds}) GROUP BY period_type, period, unit, {b}"
            for b in ind.breakdowns
        ]
    level = " ".join(f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {_q(lv)}" for lv in reversed(ind.levels))
    org_unit = " ".join(
        f"WHEN GROUPING({ORG_COLUMNS[lv]}) = 0 THEN {ORG_COLUMNS[lv]}" for lv in reversed(ind.levels)
    )
    again = ", ".join(f"sum({alias}) AS {alias}" for alias, _ in values)
    sets = ", ".join(f"(period_type, period, breakdown, category, {col})" for col in orgs)
    levels = (
        f"SELECT CASE {level} END AS level, CASE {org_unit} END AS org_unit, period_type, period, "
        f"breakdown, category, {again} FROM {_with_levels(f'{name}_units', org)} "
        f"GROUP BY GROUPING SETS ({sets})"
    )
    return [
        f"{name}_units AS{keep} ({' UNION ALL '.join(parts)})",
        f"{name} AS (SELECT * FROM ({levels}) g WHERE org_unit IS NOT NULL)",
    ]


def base_table(source: str) -> str:
    """The name a source's rows are kept under when several passes share them."""
    return f"lake_base_{source}"


def base_sql(source: str, sql_dialect: Dialect | str = "duckdb") -> str:
    """A source's rows with org units and every attribute, as any measure of it may read them."""
    return dialect(sql_dialect).transpile(R.base_sql(sources()[source]))


def passes(indicators: list[Indicator], fuse: bool = True) -> dict[str, int]:
    """How many times computing `indicators` reads each source (a fused pair reads it once)."""
    out: dict[str, int] = {}
    for ind in indicators:
        measures = [ind.numerator] if fuse and can_fuse(ind) else [ind.numerator, ind.denominator]
        for m in measures:
            if m is not None:
                out[m.source] = out.get(m.source, 0) + 1
    return out


def indicator_sql(
    ind: Indicator,
    sql_dialect: Dialect | str = "duckdb",
    fuse: bool = True,
    shared: frozenset[str] = frozenset(),
    facts: frozenset[str] = frozenset(),
) -> str:
    """The indicator's rows: indicator, level, org_unit, period_type, period, breakdown, category,
    numerator, denominator, value, numerator_records, denominator_records.

    A numerator and denominator counted from the same source's events are computed in one pass
    over it (`fuse`, see `rows.fused_rows`); otherwise each is computed apart and the two joined.
    The rows of the sources in `shared` are read from `base_table` (computed once by the caller
    for all the indicators that read them, with every attribute) instead of being computed here
    with only the attributes this indicator needs. The sources in `facts` are read from their
    analytics table in the lake (`facts.fact_table`), written with every attribute."""
    tables = {n: base_table(n) for n in shared} | {n: fact_table(n) for n in facts}
    d = dialect(sql_dialect)
    return d.transpile(_indicator_sql(ind, d, fuse, tables))


def _shape(ind: Indicator, source: str, tables: dict[str, str], name: str) -> Shape:
    attrs = attributes(ind)
    src = sources()[source]
    rows = tables.get(source) or f"({R.base_sql(src, attrs)})"
    return Shape(R.narrow(src, rows, attrs), attrs, ind.periods, name, src.org)


def _stages(ind: Indicator, name: str, rows: Rows, sh: Shape, keep: str) -> list[str]:
    """The common table expressions computing `rows` at every level, period and breakdown (the
    last one named `name`). What feeds both totals and breakdowns is computed once. Aggregates
    that add up are first added up per period, org unit and combination of attributes, and the
    grouping sets add up those far fewer rows, instead of reading every row once per set."""
    steps = [f"{step} AS{keep} ({sql})" for step, sql in rows.ctes]
    if not rows.additive:
        grouping = grouped(ind, f"{name}_rows", rows.values, sh.org)
        return [*steps, f"{name}_rows AS{keep} ({rows.sql})", f"{name} AS ({grouping})"]
    fine = ", ".join(sh.fine)
    sums = ", ".join(f"{sql} AS {alias}" for alias, sql in rows.values)
    values = [(alias, f"sum({alias})") for alias, _ in rows.values]
    return [
        *steps,
        f"{name}_fine AS{keep} (SELECT {fine}, {sums} FROM ({rows.sql}) r GROUP BY {fine})",
        *rolled_up(ind, name, values, keep, sh.org),
    ]


def _indicator_sql(ind: Indicator, d: Dialect, fuse: bool, tables: dict[str, str]) -> str:
    """The indicator's query in DuckDB's dialect (`d` only decides on materialisation)."""
    # a common table expression read twice is kept (materialised) where the engine needs to be
    # told, not computed twice
    keep = d.materialized
    keys = ", ".join(KEYS)
    factor = repr(ind.factor)
    num_sh = _shape(ind, ind.numerator.source, tables, "num")
    both = R.fused_rows(ind, num_sh) if fuse else None
    if both is not None:
        ctes = _stages(ind, "g", both, num_sh, keep)
        body = (
            f"SELECT {_q(ind.id)} AS indicator, {keys}, "
            "CAST(coalesce(num_value, 0) AS DOUBLE) AS numerator, CAST(den_value AS DOUBLE) AS denominator, "
            "CASE WHEN den_value IS NULL OR den_value = 0 THEN NULL "
            f"ELSE CAST(coalesce(num_value, 0) AS DOUBLE) * {factor} / CAST(den_value AS DOUBLE) "
            "END AS value, "
            "coalesce(num_records, 0) AS numerator_records, den_records AS denominator_records FROM g"
        )
        return f"WITH {', '.join(ctes)} {body}"
    ctes = _stages(ind, "num", R.measure_rows(ind.numerator, num_sh), num_sh, keep)
    if ind.denominator is None:
        body = (
            f"SELECT {_q(ind.id)} AS indicator, {keys}, CAST(value AS DOUBLE) AS numerator, "
            f"CAST(NULL AS DOUBLE) AS denominator, CAST(value AS DOUBLE) * {factor} AS value, "
            "records AS numerator_records, CAST(NULL AS BIGINT) AS denominator_records FROM num"
        )
    else:
        den_sh = _shape(ind, ind.denominator.source, tables, "den")
        ctes += _stages(ind, "den", R.measure_rows(ind.denominator, den_sh), den_sh, keep)
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

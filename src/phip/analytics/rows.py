"""A measure's rows, placed in the periods of its indicator: the first half of an indicator's
query (`compile` adds them up at every level, period and breakdown).

Rows carry only what the indicator needs: the org-unit codes, and of the breakdown attributes
(facility type, sex, ethnicity, poverty status, age group) those it breaks down by or filters
on. A source with no attribute needed is not joined with the person index at all, and every
grouping key is as narrow as the indicator allows."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from phip.analytics.catalogue import BREAKDOWNS, Indicator, Measure, Source, sources
from phip.analytics.shape import (
    BREAKDOWN_PERIODS,
    ORG,
    WITHIN_YEAR,
    Shape,
    Values,
    age_group,
    aged_columns,
    cols,
    flag_of,
    unit_of,
    where_of,
)
from phip.analytics.states import resident_states
from phip.engines.dialects import DuckDB
from phip.engines.dialects import quote as _q
from phip.standards.agegroups import ymd_sql

__all__ = ["BREAKDOWN_PERIODS", "ORG", "Rows", "Shape", "attributes", "base_sql", "can_fuse"]
__all__ += ["distinct_key", "fused_rows", "measure_rows", "source_columns", "uses_period"]


@dataclass(frozen=True)
class Rows:
    """A measure's (or a fused pair's) rows: `sql` gives period_type, period, the org-unit codes,
    the attributes and the columns `values` aggregate. `additive` values are counts and sums in
    which each row counts in one cell of the finest grouping, so they may be added up in steps.
    `ctes` are (name, query) steps `sql` reads more than once, to be computed once."""

    sql: str
    values: Values
    additive: bool
    ctes: tuple[tuple[str, str], ...] = ()


@cache
def source_columns(name: str) -> tuple[str, ...]:
    """The columns a source's query gives (read from its SQL, no engine needed)."""
    try:
        return DuckDB().output_columns(sources()[name].sql)
    except ValueError:
        raise ValueError(f"source {name} is not a query") from None


def _mentions(m: Measure | None, words: tuple[str, ...]) -> bool:
    return m is not None and any(w in (x or "") for x in (m.filter, m.expression) for w in words)


def attributes(ind: Indicator) -> tuple[str, ...]:
    """The breakdown attributes the indicator's rows carry: those it breaks down by, and those
    its measures filter on or add up."""
    return tuple(
        a
        for a in BREAKDOWNS
        if a in ind.breakdowns or _mentions(ind.numerator, (a,)) or _mentions(ind.denominator, (a,))
    )


def township_type_sql(code: str, missing: str = "unknown") -> str:
    """The kind of the township of a 9-digit code (`TOWNSHIP_TYPES`); `missing` without one (a
    facility above the township level, or a residence not known)."""
    n = f"TRY_CAST(substr({code}, 7, 3) AS INT)"
    return (
        f"CASE WHEN {code} IS NULL OR length({code}) < 9 THEN '{missing}' WHEN {n} < 100 THEN 'subdistrict' "
        f"WHEN {n} < 200 THEN 'town' ELSE 'rural_township' END"
    )


def base_sql(src: Source, attrs: tuple[str, ...] = BREAKDOWNS) -> str:
    """The source's rows with their org-unit codes and the attributes `attrs` (the age group as
    `given_age_group`, the source's own, and `birth_ymd`, the birth date as YYYYMMDD, for the age
    group on a day known only later)."""
    cols = source_columns(src.name)
    has_person = "person_id" in cols
    own = [f"s.{c}" for c in cols if c not in BREAKDOWNS]
    if src.org == "facility":
        org = ["fd.province_code", "fd.prefecture_code", "fd.county_code", "fd.township_code"]
        org += ["fd.code AS facility_code"]
        org_join = "LEFT JOIN facility fd ON fd.code = s.facility"
        tier = "coalesce(fd.tier, 'unknown')"
        town = "fd.township_code"
    else:
        org = ["ou.province_code", "ou.prefecture_code", "ou.county_code", "ou.township_code"]
        org += ["CAST(NULL AS VARCHAR) AS facility_code"]
        org_join = "LEFT JOIN org_unit ou ON ou.code = s.org_unit"
        tier = "'unknown'"
        town = "ou.township_code"
    # the person index is joined only for attributes the source does not give itself
    person = has_person and any(
        a in attrs and a not in cols for a in ("sex", "ethnicity", "poverty", "age_group")
    )
    sex = "s.sex" if "sex" in cols else "ps.gender" if person else "NULL"
    poverty = "CASE WHEN ps.poverty THEN 'poor' WHEN ps.poverty IS NULL THEN NULL ELSE 'not-poor' END"
    given = {
        "facility_type": tier,
        "township_type": township_type_sql(town, "above_township" if src.org == "facility" else "unknown"),
        "sex": f"coalesce({sex}, 'unknown')",
        "ethnicity": "coalesce(ps.ethnicity, 'unknown')" if person else "'unknown'",
        "poverty": f"coalesce({poverty}, 'unknown')" if person else "'unknown'",
    }
    extra = [f"{given[a]} AS {a}" for a in attrs if a in given]
    if "age_group" in attrs:
        extra.append(
            f"{'s.age_group' if 'age_group' in cols else 'CAST(NULL AS VARCHAR)'} AS given_age_group"
        )
        birth = ymd_sql("ps.birth_date") if person else "CAST(NULL AS INT)"
        extra.append(f"{birth} AS birth_ymd")
    person_join = "LEFT JOIN person ps ON ps.person_id = s.person_id" if person else ""
    return f"SELECT {', '.join(own + org + extra)} FROM ({src.sql}) s {org_join} {person_join}"


def narrow(src: Source, rows: str, attrs: tuple[str, ...]) -> str:
    """The rows of `base_sql` (`rows`: a table, or that query in brackets) as an indicator reads
    them: the source's own columns, the attributes `attrs` (and what the age group is computed
    from) and, for the org-unit codes, only the finest, `unit` (see `Shape`)."""
    own = [c for c in source_columns(src.name) if c not in BREAKDOWNS]
    extra = [a for a in attrs if a != "age_group"]
    if "age_group" in attrs:
        extra += ["given_age_group", "birth_ymd"]
    return f"(SELECT {', '.join((*own, *extra))}, {unit_of()} AS unit FROM {rows} r)"


def uses_period(m: Measure) -> bool:
    """Whether the measure needs its rows placed in periods first (its filter or value uses the
    period, or the age group, which is known only once the reference day is)."""
    return _mentions(m, ("period_", "age_group"))


def _daily_sums(sh: Shape, aggs: Values, where: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Counts and sums of events (`aggs`) added up per day, org unit and attributes (far fewer
    rows than events), then rolled up along the calendar: days and weeks from the days (totals
    only: breakdowns are not computed for them, so their attributes are left empty), months
    from the days, quarters and years from the months. Gives the rows and the step they read
    more than once."""
    age = f", {age_group('date')}" if sh.aged else ""
    daily = (
        f"SELECT {', '.join(('date', *sh.keep, *aged_columns(sh, 'date')))}, "
        f"{', '.join(f'{sql} AS {alias}' for alias, sql in aggs)} "
        f"FROM {sh.base} b {where} GROUP BY {', '.join(('date', *sh.keep))}{age}"
    )
    step = f"{sh.name}_daily"
    attrs = (*sh.keep[1:], *(("age_group",) if sh.aged else ()))
    sums = ", ".join(f"sum(d.{alias}) AS {alias}" for alias, _ in aggs)
    parts = []
    short = ", ".join(_q(p) for p in sh.periods if p not in BREAKDOWN_PERIODS)
    if short:
        empty = "".join(f", CAST(NULL AS VARCHAR) AS {a}" for a in attrs)
        parts.append(
            f"SELECT c.period_type, c.period, d.unit{empty}, {sums} FROM {step} d "
            f"JOIN lake_calendar c ON c.day = d.date AND c.period_type IN ({short}) "
            "GROUP BY c.period_type, c.period, d.unit"
        )
    long = ", ".join(_q(p) for p in sh.periods if p in BREAKDOWN_PERIODS)
    if long:
        names = cols("d.", ("unit", *attrs))
        monthly = (
            f"SELECT c.period AS month, {names}, {sums} FROM {step} d "
            f"JOIN lake_calendar c ON c.day = d.date AND c.period_type = 'month' GROUP BY c.period, {names}"
        )
        # each month once with the quarter and year it falls in
        months = (
            "SELECT DISTINCT m.period AS month, c.period_type, c.period "
            f"FROM lake_calendar m JOIN lake_calendar c ON c.day = m.day AND c.period_type IN ({long}) "
            "WHERE m.period_type = 'month'"
        )
        parts.append(
            f"SELECT c.period_type, c.period, {names}, {sums} FROM ({monthly}) d "
            f"JOIN ({months}) c ON c.month = d.month GROUP BY c.period_type, c.period, {names}"
        )
    return " UNION ALL ".join(parts), ((step, daily),)


def distinct_key(m: Measure) -> str:
    if m.aggregate == "persons":
        return "person_id"
    if m.aggregate == "facilities":
        return "unit"  # a facility-placed row's finest code is its facility's
    return str(m.expression)


def _carried(sh: Shape, src: Source, key: str) -> tuple[str, ...]:
    """The columns of a row that its key and org unit decide, so a grouping need not compare
    them (they are carried along with `any_value`): the facility type (the unit decides it: it
    comes from the registry row of that code), and for persons the attributes the person index
    gives (not those the source gives itself)."""
    cols = source_columns(src.name)
    out: list[str] = [a for a in ("facility_type", "township_type") if a in sh.keep]
    if key == "person_id":
        out += [a for a in ("sex", "ethnicity", "poverty") if a in sh.keep and a not in cols]
        out += [b for b in sh.birth if b == "birth_ymd" or "age_group" not in cols]
    return tuple(out)


def _per_period_keys(sh: Shape, src: Source, flags: Values, where: str, key: str, daily: bool) -> str:
    """Each distinct key once per period (age group at the period's end, so a person has one in
    a period); `flags` ((alias, 0/1 expression) per measure) say which measures a key counts in.
    With `daily`, keys are first made distinct per day (worth it when a key has many rows a day,
    like a facility's events; a resident rarely has). Groupings compare the key, the period, the
    org unit and only the attributes the key does not decide (`_carried`)."""
    carried = _carried(sh, src, key)
    free = [c for c in (*sh.keep, *sh.birth) if c not in carried]
    if set(sh.periods) <= WITHIN_YEAR:
        per_period = _by_months(sh, carried, free, flags, where, key)
        return f"SELECT p.*{''.join(', ' + a for a in aged_columns(sh, 'period_end'))} FROM ({per_period}) p"
    kept = ", ".join((*carried, *free))
    if daily:
        marks = "".join(f", max({x}) AS {alias}" for alias, x in flags)
        anys = "".join(f", any_value({c}) AS {c}" for c in carried)
        group = ", ".join((key, "date", *free))
        rows = (
            f"SELECT {key} AS k, date{''.join(', ' + c for c in free)}{anys}{marks} FROM {sh.base} b {where} "
        )
        rows += f"GROUP BY {group}"
    else:
        marks = "".join(f", {x} AS {alias}" for alias, x in flags)
        rows = f"SELECT {key} AS k, date, {kept}{marks} FROM {sh.base} b {where}"
    maxes = "".join(f", max(d.{alias}) AS {alias}" for alias, _ in flags)
    anys = "".join(f", any_value(d.{c}) AS {c}" for c in carried)
    per_period = (
        f"SELECT d.k, c.period_type, c.period, any_value(c.period_end) AS period_end"
        f"{''.join(', d.' + c for c in free)}{anys}{maxes} "
        f"FROM ({rows}) d JOIN lake_calendar c ON c.day = d.date AND c.period_type IN ({sh.kinds()}) "
        f"GROUP BY {', '.join(('d.k', 'c.period_type', 'c.period', *('d.' + c for c in free)))}"
    )
    return f"SELECT p.*{''.join(', ' + a for a in aged_columns(sh, 'period_end'))} FROM ({per_period}) p"


#: a month's bit in a mask of the months of a year
_BIT = "(CAST(1 AS BIGINT) << (month({}) - 1))"


def _by_months(
    sh: Shape, carried: tuple[str, ...], free: list[str], flags: Values, where: str, key: str
) -> str:
    """`_per_period_keys` when every period is made of months of one year: each key, year and org
    unit once, with the months it has rows in as bits (and per measure those its flag is set
    in), then placed in each period whose months meet them. One grouping over the rows instead
    of one over the rows times their periods."""
    bit = _BIT.format("date")
    marks = "".join(f", bit_or(CASE WHEN {x} = 1 THEN {bit} ELSE 0 END) AS {alias}" for alias, x in flags)
    anys = "".join(f", any_value({c}) AS {c}" for c in carried)
    group = ", ".join((key, "year(date)", *free))
    keys = (
        f"SELECT {key} AS k, year(date) AS y{''.join(', ' + c for c in free)}{anys}, "
        f"bit_or({bit}) AS months{marks} FROM {sh.base} b {where} GROUP BY {group}"
    )
    span = f"((CAST(1 AS BIGINT) << month(period_end)) - {_BIT.format('period_start')})"
    periods = (
        f"SELECT period_type, period, period_end, year(period_start) AS y, {span} AS months "
        f"FROM lake_periods WHERE period_type IN ({sh.kinds()})"
    )
    ins = "".join(
        f", CASE WHEN (d.{alias} & c.months) <> 0 THEN 1 ELSE 0 END AS {alias}" for alias, _ in flags
    )
    cols = "".join(f", d.{c}" for c in (*free, *carried))
    return (
        f"SELECT d.k, c.period_type, c.period, c.period_end{cols}{ins} FROM ({keys}) d "
        f"JOIN ({periods}) c ON c.y = d.y AND (d.months & c.months) <> 0"
    )


def _expanded(sh: Shape, src: Source, m: Measure) -> str:
    """States and spans (and anything whose filter or value needs the period): the source's
    rows, one per period they count in; age group at the period's end."""
    if src.mode == "event":
        join = f"JOIN lake_calendar c ON c.day = b.date AND c.period_type IN ({sh.kinds()})"
    else:
        ends = "(b.end_date IS NULL OR b.end_date >= c.period_end)"
        if src.mode == "span":
            ends = "(b.end_date IS NULL OR b.end_date >= c.period_start)"
        join = (
            f"JOIN lake_periods c ON c.period_type IN ({sh.kinds()}) "
            f"AND (b.start_date IS NULL OR b.start_date <= c.period_end) AND {ends}"
        )
    period_cols = "c.period_type, c.period, c.period_start, c.period_end, c.period_days"
    inner = f"SELECT b.*, {period_cols} FROM {sh.base} b {join}"
    aged = f"SELECT i.*{''.join(', ' + a for a in aged_columns(sh, 'period_end'))} FROM ({inner}) i"
    return f"SELECT * FROM ({aged}) a {where_of(m)}"


def _aggregate(m: Measure) -> str:
    if m.aggregate == "count":
        return "count(*)"
    if m.aggregate in ("persons", "facilities", "distinct"):
        return f"count(DISTINCT {distinct_key(m)})"
    return f"sum({m.expression})"


def measure_rows(m: Measure, sh: Shape) -> Rows:
    """One measure's rows with the aggregates (`value`, `records`) that give it in a cell.

    Events counted or summed are added up per day first; events counted distinct are made
    distinct per day and period first; residents in a state are merged into spells and counted
    at period ends; other states and spans are placed in their periods directly."""
    src = sources()[m.source]
    # a resident lives in one township and has one set of attributes in a period: once made
    # distinct per period, persons are counted by counting rows (no DISTINCT per grouping set)
    unique = m.aggregate == "persons" and src.org == "residence"
    summed = ("value", "sum(value)"), ("records", "sum(records)")
    if src.mode == "event" and not uses_period(m) and m.aggregate in ("count", "sum"):
        value = "count(*)" if m.aggregate == "count" else f"sum({m.expression})"
        rows, steps = _daily_sums(sh, [("value", value), ("records", "count(*)")], where_of(m))
        return Rows(rows, list(summed), True, steps)
    if src.mode == "event" and not uses_period(m):
        rows = _per_period_keys(sh, src, [], where_of(m), distinct_key(m), daily=not unique)
        value = "count(*)" if unique else "count(DISTINCT k)"
        return Rows(rows, [("value", value), ("records", value)], unique)
    if unique and src.mode == "state" and not uses_period(m):
        rows, steps = resident_states(sh, m)
        return Rows(rows, list(summed), True, steps)
    if unique:
        keep = ", ".join(sh.fine)
        rows = f"SELECT DISTINCT person_id, {keep} FROM ({_expanded(sh, src, m)}) e"
        return Rows(rows, [("value", "count(*)"), ("records", "count(*)")], True)
    value = _aggregate(m)
    records = value if m.aggregate != "sum" else "count(*)"
    return Rows(
        _expanded(sh, src, m), [("value", value), ("records", records)], m.aggregate in ("count", "sum")
    )


def fused_rows(ind: Indicator, sh: Shape) -> Rows | None:
    """One pass for a numerator and denominator over the same source's events (same path, same
    key): its rows carry both measures (conditional aggregates, or flags saying which measure a
    key counts in), so the source is read, joined and placed in periods once, not twice, and no
    join of the two results is needed. None when the two cannot share a pass.

    The result equals the two computed apart: a cell exists when either measure has rows in it;
    a measure with no rows in a cell is NULL there (the numerator is then shown as 0)."""
    n, d = ind.numerator, ind.denominator
    if not can_fuse(ind) or d is None:
        return None
    where = f"WHERE {flag_of(n)} OR {flag_of(d)}"
    if n.aggregate in ("count", "sum"):

        def value(m: Measure) -> str:
            return "1" if m.aggregate == "count" else str(m.expression)

        aggs = [
            (f"{side}_{v}", f"sum(CASE WHEN {flag_of(m)} THEN {x} END)")
            for side, m in (("num", n), ("den", d))
            for v, x in (("value", value(m)), ("records", "1"))
        ]
        sums = [(f"{side}_{v}", f"sum({side}_{v})") for side in ("num", "den") for v in ("value", "records")]
        rows, steps = _daily_sums(sh, aggs, where)
        return Rows(rows, sums, True, steps)
    # distinct keys: each key once per day, then once per period, flagged by the measures it is in
    flags = [
        (f"in_{side}", f"CASE WHEN {flag_of(m)} THEN 1 ELSE 0 END") for side, m in (("num", n), ("den", d))
    ]
    unique = n.aggregate == "persons" and sources()[n.source].org == "residence"
    rows = _per_period_keys(sh, sources()[n.source], flags, where, distinct_key(n), daily=not unique)
    if unique:
        # one row per person and period (see measure_rows): persons are counted by counting rows
        counts = [(side, f"sum(CASE WHEN in_{side} = 1 THEN 1 END)") for side in ("num", "den")]
        additive = True
    else:
        counts = [
            (side, f"nullif(count(DISTINCT CASE WHEN in_{side} = 1 THEN k END), 0)")
            for side in ("num", "den")
        ]
        additive = False
    return Rows(rows, [(f"{side}_{v}", sql) for side, sql in counts for v in ("value", "records")], additive)


def can_fuse(ind: Indicator) -> bool:
    """Whether the indicator's numerator and denominator can share one pass (`fused_rows`)."""
    n, d = ind.numerator, ind.denominator
    if d is None or d.source != n.source:
        return False
    if sources()[n.source].mode != "event" or uses_period(n) or uses_period(d):
        return False
    summed = ("count", "sum")
    if n.aggregate in summed and d.aggregate in summed:
        return True
    return n.aggregate not in summed and d.aggregate not in summed and distinct_key(n) == distinct_key(d)

"""Residents counted in a state (contracts, programme enrolments, records on file): merged into
spells per person, and those counted together by what decides the periods they count in."""

from __future__ import annotations

from phip.analytics.catalogue import Measure
from phip.analytics.shape import WITHIN_YEAR, Shape, age_group, aged_columns, cols, where_of
from phip.engines.dialects import quote as _q

#: the month and day (MMDD) periods of each type end on
_ENDS = {
    "month": (131, 228, 229, 331, 430, 531, 630, 731, 831, 930, 1031, 1130, 1231),
    "quarter": (331, 630, 930, 1231),
    "year": (1231,),
}


def birth_class(birth: str, periods: tuple[str, ...]) -> str:
    """`birth` (YYYYMMDD) coarsened to what decides a person's age on the last day of every period
    of the given types: the year, and which of those last days (MMDD) fall before the birthday.
    Born on MMDD, a person's age on a day ending on E is one less when E < MMDD; putting MMDD one
    past the greatest end before it changes none of those comparisons, and persons born in the
    same year between two such ends share a class. The birth date itself when a period type
    ends on any day (days and weeks)."""
    if any(p not in _ENDS for p in periods):
        return birth
    ends = sorted({e for p in periods for e in _ENDS[p]}, reverse=True)
    md = f"{birth} % 10000"
    arms = " ".join(f"WHEN {md} > {e} THEN {e + 1}" for e in ends)
    return f"({birth} - {md} + CASE {arms} ELSE 1 END)"


def period_bounds(kind: str, day: str) -> tuple[str, str]:
    """The first and last day of the period of type `kind` (month, quarter, year) `day` is in."""
    if kind == "month":
        return f"make_date(year({day}), month({day}), 1)", f"last_day({day})"
    if kind == "quarter":
        return (
            f"make_date(year({day}), 3 * quarter({day}) - 2, 1)",
            f"last_day(make_date(year({day}), 3 * quarter({day}), 1))",
        )
    return f"make_date(year({day}), 1, 1)", f"make_date(year({day}), 12, 31)"


def end_classes(sh: Shape, lo: str, hi: str) -> tuple[str, str]:
    """A spell's first and last day (`lo`, `hi`) coarsened to what decides which period ends it
    covers, when every period is made of months: the first end on or after `lo` and the last on
    or before `hi` (the finest period type's ends include the coarser ones'), with days before
    or after the calendar moved to its bounds. Spells of one class of persons then differ in a
    few dozen ways instead of one per start date, and are counted together. The days themselves
    otherwise."""
    if not set(sh.periods) <= WITHIN_YEAR:
        return lo, hi
    finest = next(k for k in ("month", "quarter", "year") if k in sh.periods)
    span = f"FROM lake_periods WHERE period_type = {_q(finest)}"
    low = f"greatest({lo}, (SELECT min(period_start) {span}))"
    high = f"least({hi}, (SELECT max(period_end) {span}))"
    start, end = period_bounds(finest, high)
    before = f"CAST({start} - INTERVAL 1 DAY AS DATE)"
    return period_bounds(finest, low)[1], f"(CASE WHEN {end} = {high} THEN {high} ELSE {before} END)"


def resident_states(sh: Shape, m: Measure) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Residents counted in a state (persons at their residence), without a DISTINCT over every
    person and period: a person with several rows has them merged into disjoint spells (gaps and
    islands, per person and attributes), so a person is in at most one spell on any day; a
    person with one row is one spell already. Spells with the same attributes, birth class
    (`birth_class`) and days are counted together, those counts placed at each distinct period
    end they cover (a quarter and its year share the end), and then in the periods ending that
    day. Gives the rows and the step they read twice."""
    part = ", ".join(("person_id", *sh.keep, *sh.birth))
    lo, hi = "coalesce(start_date, DATE '0001-01-01')", "coalesce(end_date, DATE '9999-12-31')"
    rows = f"SELECT *, {lo} AS lo, {hi} AS hi FROM {sh.base} b {where_of(m)}"
    many = f"SELECT person_id FROM ({rows}) r GROUP BY person_id HAVING count(*) > 1"
    step = f"{sh.name}_states"
    marked = (
        f"SELECT r.*, (r.person_id IS NULL OR x.person_id IS NOT NULL) AS several "
        f"FROM ({rows}) r LEFT JOIN ({many}) x ON x.person_id = r.person_id"
    )
    window = f"OVER (PARTITION BY {part} ORDER BY lo, hi ROWS BETWEEN UNBOUNDED PRECEDING AND {{}})"
    flagged = (
        f"SELECT {part}, lo, hi, CASE WHEN max(hi) {window.format('1 PRECEDING')} >= lo THEN 0 ELSE 1 END "
        f"AS starts FROM {step} WHERE several"
    )
    numbered = f"SELECT *, sum(starts) {window.format('CURRENT ROW')} AS spell FROM ({flagged}) f"
    spells = (
        f"SELECT {part}, lo, hi FROM {step} WHERE NOT several UNION ALL "
        f"SELECT {part}, min(lo) AS lo, max(hi) AS hi FROM ({numbered}) n GROUP BY {part}, spell"
    )
    classed = ", ".join((*sh.keep, *(("given_age_group",) if sh.aged else ())))
    birth = f", {birth_class('birth_ymd', sh.periods)} AS birth_ymd" if sh.aged else ""
    days = end_classes(sh, "lo", "hi")
    together = (
        f"SELECT {classed}{birth}, {days[0]} AS lo, {days[1]} AS hi, count(*) AS n FROM ({spells}) s "
        f"GROUP BY {classed}{birth.replace(' AS birth_ymd', '')}, {days[0]}, {days[1]}"
    )
    ends = f"SELECT DISTINCT period_end FROM lake_periods WHERE period_type IN ({sh.kinds()})"
    keep = ", ".join(sh.keep)
    age = f", {age_group('e.period_end')}" if sh.aged else ""
    at_end = (
        f"SELECT {', '.join(('e.period_end', *sh.keep, *aged_columns(sh, 'e.period_end')))}, sum(n) AS value "
        f"FROM ({together}) s JOIN ({ends}) e ON s.lo <= e.period_end AND s.hi >= e.period_end "
        f"GROUP BY e.period_end, {keep}{age}"
    )
    names = (*sh.keep, *(("age_group",) if sh.aged else ()))
    out = (
        f"SELECT c.period_type, c.period, {cols('d.', names)}, d.value, d.value AS records "
        f"FROM ({at_end}) d JOIN lake_periods c "
        f"ON c.period_end = d.period_end AND c.period_type IN ({sh.kinds()})"
    )
    return out, ((step, marked),)

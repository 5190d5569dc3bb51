"""The shape of an indicator's rows, and the SQL pieces every kind of rows is made of: the
org-unit columns, the attributes carried, the periods, the age group on a day."""

from __future__ import annotations

from dataclasses import dataclass

from phip.analytics.catalogue import Measure
from phip.engines.dialects import quote as _q
from phip.standards.agegroups import age_group_ymd_sql, day_ymd_sql

ORG = ("province_code", "prefecture_code", "county_code", "township_code", "facility_code")
#: breakdowns are computed for these periods (daily and weekly series are totals); months nest in
#: quarters and years
BREAKDOWN_PERIODS = ("month", "quarter", "year")
#: (alias, SQL) aggregates over rows, and whether they add up (see `Rows`)
Values = list[tuple[str, str]]
#: period types made of whole months of one year
WITHIN_YEAR = {"month", "quarter", "year"}


@dataclass(frozen=True)
class Shape:
    """How an indicator's rows look: the source rows to read (`base`, a query in brackets, see
    `narrow`), the attributes carried, and the periods.

    A row carries one org-unit code, `unit`: the finest of its codes (its facility's, else its
    residence's township, county...), which decides the others; those are joined to the few
    rows left after the rows are added up (`unit_map`). Every grouping on the way compares one
    code instead of five."""

    base: str
    attrs: tuple[str, ...]
    periods: tuple[str, ...]
    name: str = "m"  # prefix of the names of its steps
    org: str = "facility"  # how the source places its rows: by facility or residence

    @property
    def keep(self) -> tuple[str, ...]:
        """The columns a row keeps from its source row: its org unit (`unit`) and plain
        attributes."""
        return ("unit", *(a for a in self.attrs if a != "age_group"))

    @property
    def aged(self) -> bool:
        return "age_group" in self.attrs

    @property
    def birth(self) -> tuple[str, ...]:
        """What the age group is computed from, when it is needed."""
        return ("given_age_group", "birth_ymd") if self.aged else ()

    @property
    def fine(self) -> tuple[str, ...]:
        """The finest grouping: period, org-unit codes and every attribute."""
        return ("period_type", "period", *self.keep, *(("age_group",) if self.aged else ()))

    def kinds(self) -> str:
        return ", ".join(_q(p) for p in self.periods)


def age_group(day: str) -> str:
    """The age group on `day` (a DATE expression): the source's own, else from the birth date."""
    age = age_group_ymd_sql("birth_ymd", day_ymd_sql(day))
    return f"coalesce(given_age_group, CASE WHEN birth_ymd IS NULL THEN 'unknown' ELSE {age} END)"


def aged_columns(sh: Shape, day: str) -> list[str]:
    return [f"{age_group(day)} AS age_group"] if sh.aged else []


def where_of(m: Measure) -> str:
    return f"WHERE {m.filter}" if m.filter else ""


def flag_of(m: Measure) -> str:
    return f"({m.filter})" if m.filter else "TRUE"


def cols(prefix: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{prefix}{n}" for n in names)


def unit_of(prefix: str = "") -> str:
    """The finest org-unit code of a row with the columns `ORG` (the facility's, else the
    residence's)."""
    return f"coalesce({cols(prefix, tuple(reversed(ORG)))})"


def unit_map(org: str) -> str:
    """Each org-unit code a row of a source placed by `org` (facility or residence) can have as
    `unit`, with the codes of its levels (`ORG`), from the registry rows the rows were placed
    by (see `rows.base_sql`): `map_unit`, province_code ... facility_code."""
    levels = "province_code, prefecture_code, county_code, township_code"
    if org == "facility":
        codes = f"{levels}, code AS facility_code FROM facility"
    else:
        codes = f"{levels}, CAST(NULL AS VARCHAR) AS facility_code FROM org_unit"
    return f"SELECT DISTINCT {unit_of()} AS map_unit, {', '.join(ORG)} FROM (SELECT {codes}) o"

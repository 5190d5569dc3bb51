"""The shape of an indicator's rows, and the SQL pieces every kind of rows is made of: the
org-unit columns, the attributes carried, the periods, the age group on a day."""

from __future__ import annotations

from dataclasses import dataclass

from phip.analytics.catalogue import Measure
from phip.lake.dialect import quote as _q
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
    """How an indicator's rows look: the source rows to read (`base`: a table, or a query in
    brackets), the attributes carried, and the periods."""

    base: str
    attrs: tuple[str, ...]
    periods: tuple[str, ...]
    name: str = "m"  # prefix of the names of its steps

    @property
    def keep(self) -> tuple[str, ...]:
        """The columns a row keeps from its source row: org-unit codes and plain attributes."""
        return (*ORG, *(a for a in self.attrs if a != "age_group"))

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

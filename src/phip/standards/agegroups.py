"""The age groups statistics and indicators break down by (one definition for the population
figures, the lake and the indicator catalogue)."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

#: (label, lowest age, highest age or None): under 1, preschool, school age, young adults,
#: middle age, the elderly (national basic public health services target 65+)
AGE_GROUPS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1-6", 1, 6),
    ("7-17", 7, 17),
    ("18-44", 18, 44),
    ("45-64", 45, 64),
    ("65+", 65, None),
)


def age_on(birth: date, when: date) -> int:
    """Completed years of age on `when`."""
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def age_group(age: int) -> str:
    for label, low, high in AGE_GROUPS:
        if age >= low and (high is None or age <= high):
            return label
    return "unknown"


def ymd_sql(iso: str) -> str:
    """The ISO date string `iso` as the integer YYYYMMDD (a missing month or day counts 0, so a
    partial date compares like its string: '1980' is before '1980-01-01'); NULL when the year is
    not a number (portable SQL)."""
    part = "coalesce(TRY_CAST(substr({0}, {1}, 2) AS INT), 0)"
    return (
        f"(TRY_CAST(substr({iso}, 1, 4) AS INT) * 10000 + {part.format(iso, 6)} * 100 "
        f"+ {part.format(iso, 9)})"
    )


def day_ymd_sql(day: str) -> str:
    """The DATE expression `day` as the integer YYYYMMDD."""
    return f"(year({day}) * 10000 + month({day}) * 100 + day({day}))"


def age_group_ymd_sql(birth: str, when: str) -> str:
    """The age group on `when` of a person born on `birth`, both integers YYYYMMDD: completed
    years are (when − birth) div 10000, so each group is a range of the difference (no string
    work per row, which matters over tens of millions of rows). The groups are contiguous from
    0, so one comparison per group, in order, places a difference (a third faster than testing
    both ends of every range)."""
    diff = f"({when} - {birth})"
    arms = [f"WHEN {diff} IS NULL OR {diff} < 0 THEN 'unknown'"]
    arms += [
        f"WHEN {diff} < {(high + 1) * 10000} THEN '{label}'"
        for label, _, high in AGE_GROUPS
        if high is not None
    ]
    return f"(CASE {' '.join(arms)} ELSE '{AGE_GROUPS[-1][0]}' END)"


def _contiguous() -> bool:
    ends = [(low, high) for _, low, high in AGE_GROUPS]
    return (
        ends[0][0] == 0
        and ends[-1][1] is None
        and all(h is not None and h + 1 == nxt for (_, h), (nxt, _) in pairwise(ends))
    )


assert _contiguous(), "age groups must be contiguous from 0 with an open last group"

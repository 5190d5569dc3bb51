"""The age group in SQL (YYYYMMDD integers) agrees with the Python definition, on DuckDB."""

from __future__ import annotations

import random
from datetime import date, timedelta

import duckdb

from phip.standards.agegroups import AGE_GROUPS, age_group, age_group_ymd_sql, age_on


def _ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def test_sql_age_group_agrees_with_python_around_every_birthday_that_changes_it() -> None:
    rnd = random.Random(3)
    pairs = []
    for _ in range(400):
        birth = date(1920, 1, 1) + timedelta(days=rnd.randrange(0, 38000))
        pairs.append((birth, date(2024, 1, 1) + timedelta(days=rnd.randrange(0, 1100))))
        # the day before, of and after each birthday on which the group changes (29 February too)
        for _, low, _ in AGE_GROUPS:
            year = birth.year + low
            day = birth.replace(year=year) if (birth.month, birth.day) != (2, 29) else date(year, 3, 1)
            pairs += [(birth, day + timedelta(days=k)) for k in (-1, 0, 1)]
    con = duckdb.connect()
    con.execute("CREATE TABLE p(b INT, w INT)")
    con.executemany("INSERT INTO p VALUES (?, ?)", [(_ymd(b), _ymd(w)) for b, w in pairs])
    got = [r[0] for r in con.execute(f"SELECT {age_group_ymd_sql('b', 'w')} FROM p").fetchall()]
    want = [age_group(age_on(b, w)) if w >= b else "unknown" for b, w in pairs]
    assert got == want
    assert set(got) >= {label for label, _, _ in AGE_GROUPS} | {"unknown"}


def test_sql_age_group_of_an_unknown_birth_date_is_unknown() -> None:
    sql = f"SELECT {age_group_ymd_sql('CAST(NULL AS INT)', '20250101')}"
    assert duckdb.connect().execute(sql).fetchall() == [("unknown",)]

"""Published statistics of the configured province (census figures), as packaged data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Census:
    total: int
    by_prefecture: dict[str, int]
    age_0_14: float
    age_15_59: float
    age_60_plus: float
    age_65_plus: float
    male_share: float


@lru_cache(maxsize=4)
def census(province: str) -> Census:
    path = resources.files("phip.standards") / "data" / "provinces" / province / "statistics.csv"
    exact: dict[str, int] = {}
    tenk: dict[str, float] = {}
    shares: dict[str, float] = {}
    with open(str(path), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if not r["period"].startswith("2020-11"):
                continue
            if r["indicator"] == "resident_population_census":
                exact[r["adcode"]] = int(float(r["value"]))
            elif r["indicator"] == "resident_population_census_10k":
                tenk[r["adcode"]] = float(r["value"])
            elif r["adcode"] == province:
                shares[r["indicator"]] = float(r["value"])
    prefectures = {c for c in set(exact) | set(tenk) if c != province}
    by_pref = {c: exact.get(c) or round(tenk[c] * 10000) for c in sorted(prefectures)}
    total = exact.get(province) or sum(by_pref.values())
    return Census(
        total=total,
        by_prefecture=by_pref,
        age_0_14=shares["census2020_age_0_14_share"] / 100,
        age_15_59=shares["census2020_age_15_59_share"] / 100,
        age_60_plus=shares["census2020_age_60plus_share"] / 100,
        age_65_plus=shares["census2020_age_65plus_share"] / 100,
        male_share=shares["census2020_male_share"] / 100,
    )

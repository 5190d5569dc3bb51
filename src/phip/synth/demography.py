"""The province's people in distribution: prefecture shares (2020 census), single-year age and
sex structure fitted to the census age bands and sex ratio, ethnic mix by county, and how the
residents of a prefecture spread over its townships.

Township weights are an assumption (the packaged data has no county populations): an urban
subdistrict counts 1.6, a town 1.0, a rural township 0.6, a farm or industrial park 0.15.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from phip.standards.divisions import Divisions
from phip.standards.statistics import Census, census

TOWNSHIP_WEIGHTS = {"subdistrict": 1.6, "town": 1.0, "township": 0.6, "special": 0.15}
MAX_AGE = 100


@dataclass(frozen=True)
class AgeSexModel:
    ages: tuple[int, ...]
    cum_weights: tuple[float, ...]
    male_prob: tuple[float, ...]  # by single year of age


def age_sex_model(c: Census) -> AgeSexModel:
    w: list[float] = []
    w += [c.age_0_14 / 15] * 15
    w += [c.age_15_59 / 45] * 45
    w += [(c.age_60_plus - c.age_65_plus) / 5] * 5
    r = 0.93
    tail = [r**k for k in range(MAX_AGE - 65 + 1)]
    s = sum(tail)
    w += [c.age_65_plus * t / s for t in tail]
    m_child, m_old = 0.530, 0.488
    m_adult = (c.male_share - m_child * c.age_0_14 - m_old * c.age_60_plus) / c.age_15_59
    male = [m_child] * 15 + [m_adult] * 45 + [m_old] * (len(w) - 60)
    cum, acc = [], 0.0
    for x in w:
        acc += x
        cum.append(acc)
    return AgeSexModel(tuple(range(len(w))), tuple(cum), tuple(male))


@lru_cache(maxsize=4)
def ethnicity_table(province: str) -> dict[str, list[tuple[str, float]]]:
    path = resources.files("phip.synth") / "data" / "provinces" / province / "ethnicity_by_county.csv"
    table: dict[str, list[tuple[str, float]]] = {}
    try:
        with open(str(path), encoding="utf-8") as f:
            for r in csv.DictReader(f):
                table.setdefault(r["county_code"], []).append((r["ethnicity_code"], float(r["share"])))
    except FileNotFoundError:
        pass
    return table


def ethnic_mix(province: str, county: str) -> tuple[list[str], list[float]]:
    """(codes, cumulative weights) for a county; Han ('01') takes the remainder."""
    table = ethnicity_table(province)
    rows = table.get(county) or table.get("*", [])
    codes = [c for c, _ in rows]
    shares = [s for _, s in rows]
    codes.append("01")
    shares.append(max(0.0, 1.0 - sum(shares)))
    cum, acc = [], 0.0
    for s in shares:
        acc += s
        cum.append(acc)
    return codes, cum


def prefecture_shares(province: str) -> dict[str, float]:
    c = census(province)
    total = sum(c.by_prefecture.values())
    return {code: n / total for code, n in c.by_prefecture.items()}


def township_populations(
    divisions: Divisions, total: int, min_per_township: int = 200, boost: dict[str, float] | None = None
) -> dict[str, int]:
    """Residents per township: prefecture totals from the census, spread over its townships by
    kind weight, rounded so that every prefecture total is exact (largest remainder).

    A small province would leave a handful of people per township, too few to form households;
    so each prefecture populates only as many townships as give at least `min_per_township`
    residents each, chosen by a weighted, seed-independent draw (Efraimidis-Spirakis keys);
    `boost` multiplies the draw weight of some townships (those with facilities in a small plan).
    """
    boost = boost or {}
    shares = prefecture_shares(divisions.province)
    pref_totals = largest_remainder({p: s * total for p, s in shares.items()})
    out: dict[str, int] = {}
    for pref, n in pref_totals.items():
        towns = [
            t
            for county in divisions.children(pref)
            for t in divisions.children(county.code)
            if t.level == "township"
        ]
        weights = {t.code: TOWNSHIP_WEIGHTS[t.kind] for t in towns}
        k = min(len(towns), max(1, n // max(1, min_per_township)))
        if k < len(towns):
            keys = {c: -math.log(_unit(c)) / (w * boost.get(c, 1.0)) for c, w in weights.items()}
            chosen = sorted(weights, key=lambda c: keys[c])[:k]
            weights = {c: weights[c] for c in chosen}
        wsum = sum(weights.values())
        out.update(largest_remainder({c: n * w / wsum for c, w in weights.items()}))
    return out


def _unit(code: str) -> float:
    h = hashlib.blake2b(f"township:{code}".encode(), digest_size=8).digest()
    return (int.from_bytes(h, "big") + 1) / (2**64 + 2)


def largest_remainder(quotas: dict[str, float]) -> dict[str, int]:
    """Round quotas to integers preserving their (rounded) total."""
    floors = {k: int(v) for k, v in quotas.items()}
    short = round(sum(quotas.values())) - sum(floors.values())
    order = sorted(quotas, key=lambda k: (-(quotas[k] - floors[k]), k))
    for k in order[: max(0, short)]:
        floors[k] += 1
    return floors

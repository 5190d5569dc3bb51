"""Scores: a facility's quality score in a round, 0–100, with one sub-score per dimension, and
the same for every org unit above it from the sums of its facilities.

For a dimension d and a facility f (tier t):
    failed_d  = Σ_{rules r of d} w_r(t) · failing records of r at f
    checked_d = Σ_{rules r of d} w_r(t) · records of r's resource kind f submitted
    score_d   = 100 · max(0, 1 − (failed_d / checked_d) / tolerance_d)
(tolerance 10 % for records: 1 % of weighted records failing costs 10 points; 100 % for monthly
batches: one late month in twelve costs 8.3 points), and the overall score is the mean of the
dimension scores weighted by `DIMENSIONS` (dimensions with nothing checked are left out). A unit
above facilities adds up failed_d and checked_d over its facilities: large facilities weigh more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from phip.quality.catalogue import DIMENSIONS, Catalogue


@dataclass
class Tally:
    """Weighted failures and checked records per dimension."""

    failed: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    checked: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    records: int = 0
    findings: int = 0

    def add(self, other: Tally) -> None:
        for d, v in other.failed.items():
            self.failed[d] += v
        for d, v in other.checked.items():
            self.checked[d] += v
        self.records += other.records
        self.findings += other.findings

    def dimension_scores(self) -> dict[str, float]:
        out = {}
        for d in DIMENSIONS:
            checked = self.checked.get(d, 0.0)
            if checked > 0:
                rate = self.failed.get(d, 0.0) / checked
                out[d] = round(100.0 * max(0.0, 1.0 - rate / DIMENSIONS[d][2]), 2)
        return out

    def score(self) -> float | None:
        subs = self.dimension_scores()
        if not subs:
            return None
        total = sum(DIMENSIONS[d][1] for d in subs)
        return round(sum(DIMENSIONS[d][1] * s for d, s in subs.items()) / total, 2)

    def to_json(self) -> dict[str, Any]:
        subs = self.dimension_scores()
        return {
            d: {"score": subs[d], "failed": round(self.failed.get(d, 0.0), 3), "checked": self.checked[d]}
            for d in subs
        }

    @classmethod
    def from_json(cls, dims: Mapping[str, Any], records: int, findings: int) -> Tally:
        t = cls(records=records, findings=findings)
        for d, v in dims.items():
            t.failed[d] = float(v["failed"])
            t.checked[d] = float(v["checked"])
        return t


def facility_tallies(
    cat: Catalogue, findings: pa.Table, checked: pa.Table, tiers: Mapping[str, str | None]
) -> dict[str, Tally]:
    """One tally per facility that submitted anything or has findings."""
    records: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for fac, res, n in zip(
        checked.column("facility").to_pylist(),
        checked.column("resource").to_pylist(),
        checked.column("records").to_pylist(),
        strict=True,
    ):
        records[fac][res] += int(n)
    failing: dict[tuple[str, str], int] = defaultdict(int)
    for rule, fac in zip(
        findings.column("rule_id").to_pylist(), findings.column("facility").to_pylist(), strict=True
    ):
        if fac:
            failing[(fac, rule)] += 1
    out: dict[str, Tally] = {}
    for fac in set(records) | {f for f, _ in failing}:
        tier = tiers.get(fac)
        t = Tally()
        kinds = records.get(fac, {})
        total = sum(n for k, n in kinds.items() if k != "Submission")
        t.records = total
        for rule in cat.rules:
            w = rule.weight_at(tier)
            base = total if rule.resource == "any" else kinds.get(rule.resource, 0)
            n = failing.get((fac, rule.id), 0)
            t.checked[rule.dimension] += w * max(base, n)
            t.failed[rule.dimension] += w * n
            t.findings += n
        out[fac] = t
    return out


def roll_up(tallies: Mapping[str, Tally], unit_of: Mapping[str, Iterable[str | None]]) -> dict[str, Tally]:
    """Tallies of the units above the facilities: `unit_of[facility]` lists its units."""
    out: dict[str, Tally] = defaultdict(Tally)
    for fac, t in tallies.items():
        for unit in unit_of.get(fac, ()):
            if unit:
                out[unit].add(t)
    return dict(out)

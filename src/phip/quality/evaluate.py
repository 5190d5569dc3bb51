"""How well the rules find the defects a synthetic province injected (`truth/defects.csv`).

- recall of a kind: the share of its injected records that a rule declaring the kind finds;
- precision of a kind: the share of records found by the rules declaring it that carry an
  injected defect of a kind those rules declare;
- overall: the same over every (record, kind) and every finding of a declaring rule.
Rules that declare no kind (consequences such as an unresolved reference to a refused patient,
or checks the generator does not inject) are counted apart and are not in the precision.

A record refused at the door for one defect is not checked for the others until the facility
resubmits it: `overall.recall` counts those other defects as missed; `recall_checkable` leaves
them out (they are listed as `masked_by_refusal`).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from phip.quality.catalogue import Catalogue, catalogue


def read_truth(truth: Path) -> dict[str, set[str]]:
    """record (Type/id, or Submission/<facility>/<month>) → injected kinds."""
    kinds: dict[str, set[str]] = defaultdict(set)
    with open(truth / "defects.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            kinds[row["resource"]].add(row["kind"])
    return kinds


def evaluate(
    findings: pa.Table,
    truth: dict[str, set[str]],
    cat: Catalogue | None = None,
    refused: set[str] | None = None,
) -> dict[str, Any]:
    cat = cat or catalogue()
    refused = refused or set()
    declared = {r.id: set(r.detects) for r in cat.rules}
    found_by_kind: dict[str, set[str]] = defaultdict(set)  # kind → records a declaring rule found
    undeclared: dict[str, int] = defaultdict(int)
    flagged: dict[str, set[str]] = defaultdict(set)  # record → kinds of the rules that flagged it
    for rule_id, resource in zip(
        findings.column("rule_id").to_pylist(), findings.column("resource").to_pylist(), strict=True
    ):
        kinds = declared.get(rule_id, set())
        if not kinds:
            undeclared[rule_id] += 1
            continue
        flagged[resource] |= kinds
        for k in kinds:
            found_by_kind[k].add(resource)
    injected: dict[str, set[str]] = defaultdict(set)
    for resource, kinds in truth.items():
        for k in kinds:
            injected[k].add(resource)
    detectable = {k for ks in declared.values() for k in ks}
    per_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(injected) | detectable):
        records = injected.get(kind, set())
        found = found_by_kind.get(kind, set())
        rules = sorted(r for r, ks in declared.items() if kind in ks)
        true_found = {r for r in found if truth.get(r, set()) & _kinds_of(rules, declared)}
        hidden = {r for r in records - found if r in refused}
        per_kind[kind] = {
            "injected": len(records),
            "detected": len(records & found),
            "recall": _ratio(len(records & found), len(records)),
            "masked_by_refusal": len(hidden),
            "recall_checkable": _ratio(len(records & found), len(records) - len(hidden)),
            "flagged": len(found),
            "precision": _ratio(len(true_found), len(found)),
            "rules": rules,
        }
    pairs = [(r, k) for k, rs in injected.items() for r in rs]
    hit = sum(1 for r, k in pairs if k in flagged.get(r, set()))
    masked = [(r, k) for r, k in pairs if r in refused and k not in flagged.get(r, set())]
    correct = sum(1 for r, ks in flagged.items() if truth.get(r, set()) & ks)
    silent = sorted(k for k in injected if not per_kind[k]["rules"])
    return {
        "kinds": per_kind,
        "not_covered": silent,
        "undeclared_rules": dict(sorted(undeclared.items())),
        "overall": {
            "injected": len(pairs),
            "detected": hit,
            "recall": _ratio(hit, len(pairs)),
            "masked_by_refusal": len(masked),
            "recall_checkable": _ratio(hit, len(pairs) - len(masked)),
            "flagged": len(flagged),
            "correct": correct,
            "precision": _ratio(correct, len(flagged)),
        },
    }


def _kinds_of(rules: list[str], declared: dict[str, set[str]]) -> set[str]:
    return set().union(*(declared[r] for r in rules)) if rules else set()


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def refused_records(lake: Path) -> set[str]:
    """Records the platform refused and that are still not accepted."""
    from phip.lake.reader import open_duckdb

    con, _ = open_duckdb(lake)
    rows = con.sql("SELECT DISTINCT _rid FROM quarantine WHERE NOT resolved").fetchall()
    con.close()
    return {r[0] for r in rows}

"""Outliers among units on aggregated values (the WHO Data Quality Review's check of reported
figures against their peers): for each indicator, the units of one level and period whose value
lies beyond a modified z-score of 3.5 from the others' (Iglewicz and Hoaglin: 0.6745 · (x −
median) / MAD). Cells hidden as small counts and indicators with fewer than five units valued
are left out; a MAD of zero (most units equal) judges nothing."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

THRESHOLD = 3.5
MIN_UNITS = 5


def modified_z(values: list[float]) -> list[float | None]:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    return [None if mad == 0 else 0.6745 * (v - med) / mad for v in values]


def unit_outliers(rows: list[dict[str, Any]], threshold: float = THRESHOLD) -> list[dict[str, Any]]:
    """Result rows (indicator, org_unit, value, suppressed, ...) of one level and period → the
    outlying ones with their `z`, the indicator's `median` and `units` valued; largest |z| first."""
    by_indicator: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if not r.get("suppressed") and r.get("value") is not None:
            by_indicator[r["indicator"]].append(r)
    out = []
    for valued in by_indicator.values():
        if len(valued) < MIN_UNITS:
            continue
        values = [float(r["value"]) for r in valued]
        med = statistics.median(values)
        for r, z in zip(valued, modified_z(values), strict=True):
            if z is not None and abs(z) > threshold:
                out.append({**r, "z": z, "median": med, "units": len(valued)})
    return sorted(out, key=lambda r: -abs(r["z"]))

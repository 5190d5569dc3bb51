"""Boundaries for the console's maps: Douglas–Peucker keeps every dropped point within the
tolerance, the packaged file is exactly what the command makes from the reference data, and
every prefecture and county of the divisions has a region (but the one the source lacks)."""

from __future__ import annotations

import json
import random
from itertools import pairwise
from pathlib import Path

from phip.orgunits import geo
from phip.standards.divisions import get_divisions


def _distance_to_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    (x, y), (x1, y1), (x2, y2) = p, a, b
    dx, dy = x2 - x1, y2 - y1
    if dx == dy == 0:
        return float(((x - x1) ** 2 + (y - y1) ** 2) ** 0.5)
    return float(abs(dy * x - dx * y + x2 * y1 - y2 * x1) / (dx * dx + dy * dy) ** 0.5)


def test_douglas_peucker_keeps_dropped_points_within_tolerance() -> None:
    rng = random.Random(11)
    for _ in range(200):
        n = rng.randint(2, 120)
        x, y, pts = 0.0, 0.0, []
        for _ in range(n):
            x, y = x + rng.uniform(-1, 1), y + rng.uniform(-1, 1)
            pts.append((x, y))
        tol = rng.choice([0.01, 0.1, 0.5, 2.0])
        kept = geo.douglas_peucker(pts, tol)
        assert kept[0] == pts[0] and kept[-1] == pts[-1]
        idx = [pts.index(k) for k in kept]
        assert idx == sorted(idx)  # a subsequence, in order
        for i, j in pairwise(idx):
            for p in pts[i + 1 : j]:
                assert _distance_to_segment(p, pts[i], pts[j]) <= tol + 1e-12
    assert geo.douglas_peucker([(0, 0), (1, 0.001), (2, 0)], 0.01) == [(0, 0), (2, 0)]
    assert geo.douglas_peucker([(0, 0), (1, 1), (2, 0)], 0.01) == [(0, 0), (1, 1), (2, 0)]


def test_packaged_boundaries_are_reproducible_and_complete(shared_data: Path) -> None:
    src = shared_data / "geo"
    divisions = get_divisions("620000")
    rename = {}
    for pref in divisions.prefectures():
        kids = divisions.children(pref.code)
        if len(kids) == 1:
            rename[pref.code] = kids[0].code
    made = geo.simplify(
        json.loads((src / "gansu_prefectures.geojson").read_text("utf-8")),
        json.loads((src / "gansu_counties.geojson").read_text("utf-8")),
        "620000",
        0.01,
        rename,
    )
    packaged = geo.packaged("620000")
    assert packaged == json.loads(json.dumps(made))
    codes = {r["code"]: r for r in packaged["regions"]}
    assert {p.code for p in divisions.prefectures()} == {
        c for c, r in codes.items() if r["level"] == "prefecture"
    }
    counties = {c.code for c in divisions.counties()}
    # 兰州新区 (620171) is a statistical area with no boundary of its own in the source
    assert counties - set(codes) == {"620171"}
    assert "620201" in codes  # 嘉峪关's boundary under its county-level placeholder
    for r in packaged["regions"]:
        for poly in r["geometry"]["coordinates"]:
            assert len(poly[0]) >= 4 and poly[0][0] == poly[0][-1]
    assert geo.point_count(packaged) < 20_000


def test_regions_of_an_org_unit() -> None:
    prefs = geo.regions("620000", "620000")["features"]
    assert len(prefs) == 14 and {f["properties"]["level"] for f in prefs} == {"prefecture"}
    lanzhou = geo.regions("620000", "620100")["features"]
    assert {f["properties"]["code"][:4] for f in lanzhou} == {"6201"} and len(lanzhou) == 8
    county = geo.regions("620000", "620102")["features"]
    assert [f["properties"]["code"] for f in county] == ["620102"]
    assert geo.regions("620000", "999999")["features"] == []
    assert geo.regions("110000", "110000")["features"] == []  # no boundaries packaged


def test_points_inside_a_region() -> None:
    """`contains` by the even-odd rule (a hole is outside), and `point_in` gives the same point for
    the same key, inside the region, for every county of the province."""
    square = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]],
    }
    assert (
        geo.contains(square, 0.5, 0.5) and not geo.contains(square, 2, 2) and not geo.contains(square, 5, 1)
    )
    counties = [r for r in (geo.packaged("620000") or {})["regions"] if r["level"] == "county"]
    assert len(counties) > 80
    for r in counties:
        p = geo.point_in(r["geometry"], "facility-" + r["code"])
        assert p is not None and geo.contains(r["geometry"], *p), r["code"]
        assert geo.point_in(r["geometry"], "facility-" + r["code"]) == p
    assert geo.region("620000", counties[0]["code"]) == counties[0] and geo.region("620000", "999999") is None

"""Boundaries of the province's prefectures and counties, simplified for a browser map and carried
in the package (`data/geo/<province>.json`), so the console draws its maps on an intranet.

`simplify` turns full-resolution GeoJSON (one FeatureCollection per level, properties `adcode`,
`name`, `prefecture_adcode`) into one compact document: Douglas–Peucker per ring with a tolerance
in degrees, coordinates rounded to 4 decimals (about 10 m), rings that vanish dropped but every
region kept. `regions(province, parent)` gives the children of an org unit as a FeatureCollection
ECharts can register: the province → its prefectures, a prefecture → its counties, a county →
itself (there are no township boundaries).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any

Point = tuple[float, float]
DIGITS = 4


def _perpendicular(p: Point, a: Point, b: Point) -> float:
    (x, y), (x1, y1), (x2, y2) = p, a, b
    dx, dy = x2 - x1, y2 - y1
    if dx == 0 and dy == 0:
        return float(((x - x1) ** 2 + (y - y1) ** 2) ** 0.5)
    return float(abs(dy * x - dx * y + x2 * y1 - y2 * x1) / (dx * dx + dy * dy) ** 0.5)


def douglas_peucker(points: list[Point], tolerance: float) -> list[Point]:
    """The points of a polyline kept by Douglas–Peucker (iterative; first and last always kept)."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        lo, hi = stack.pop()
        best, at = -1.0, -1
        for i in range(lo + 1, hi):
            d = _perpendicular(points[i], points[lo], points[hi])
            if d > best:
                best, at = d, i
        if at >= 0 and best > tolerance:
            keep[at] = True
            stack.extend(((lo, at), (at, hi)))
    return [p for p, k in zip(points, keep, strict=True) if k]


def _ring(ring: list[list[float]], tolerance: float) -> list[list[float]] | None:
    pts = [(float(x), float(y)) for x, y, *_ in ring]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        return None
    # split the closed ring at its farthest point from the start so both halves are open lines
    far = max(range(len(pts)), key=lambda i: (pts[i][0] - pts[0][0]) ** 2 + (pts[i][1] - pts[0][1]) ** 2)
    first = douglas_peucker(pts[: far + 1], tolerance)
    second = douglas_peucker([*pts[far:], pts[0]], tolerance)
    out = [*first, *second[1:]]
    rounded: list[list[float]] = []
    for x, y in out:
        q = [round(x, DIGITS), round(y, DIGITS)]
        if not rounded or rounded[-1] != q:
            rounded.append(q)
    if len(rounded) < 4:  # a triangle plus the closing point at least
        return None
    return rounded


def _polygons(geometry: dict[str, Any]) -> list[list[list[list[float]]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["coordinates"])
    raise ValueError(f"unsupported geometry {geometry['type']}")


def _area(ring: list[list[float]]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(ring))) / 2


def simplify_feature(feature: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """One region simplified; its largest polygon survives even when the tolerance swallows it."""
    polygons = _polygons(feature["geometry"])
    out: list[list[list[list[float]]]] = []
    for poly in polygons:
        outer = _ring(poly[0], tolerance)
        if outer is None:
            continue
        holes = [h for h in (_ring(r, tolerance) for r in poly[1:]) if h is not None]
        out.append([outer, *holes])
    if not out:  # tiny region: keep the biggest polygon at a finer tolerance
        biggest = max(polygons, key=lambda p: _area(p[0]))
        fine = _ring(biggest[0], tolerance / 100) or [
            [round(x, DIGITS), round(y, DIGITS)] for x, y, *_ in biggest[0]
        ]
        out = [[fine]]
    for poly in out:
        for ring in poly:
            if ring[0] != ring[-1]:
                ring.append(list(ring[0]))
    return {"type": "MultiPolygon", "coordinates": out}


def simplify(
    prefectures: dict[str, Any],
    counties: dict[str, Any],
    province: str,
    tolerance: float = 0.01,
    county_codes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One compact document of both levels: `{"province", "regions": [{code, name, level, parent,
    geometry}]}`; counties get half the prefectures' tolerance (they are drawn larger).
    `county_codes` renames county features whose boundary code is not the org unit's code (a
    prefecture-level city without counties carries the prefecture's code in the boundary data)."""
    regions = []
    rename = county_codes or {}
    for level, fc, tol in (("prefecture", prefectures, tolerance), ("county", counties, tolerance / 2)):
        for f in fc["features"]:
            p = f["properties"]
            parent = province if level == "prefecture" else str(p["prefecture_adcode"])
            regions.append(
                {
                    "code": rename.get(str(p["adcode"]), str(p["adcode"]))
                    if level == "county"
                    else str(p["adcode"]),
                    "name": p["name"],
                    "level": level,
                    "parent": parent,
                    "geometry": simplify_feature(f, tol),
                }
            )
    return {"province": province, "tolerance": tolerance, "regions": regions}


def point_count(doc: dict[str, Any]) -> int:
    return sum(len(r) for reg in doc["regions"] for poly in reg["geometry"]["coordinates"] for r in poly)


@lru_cache(maxsize=4)
def packaged(province: str) -> dict[str, Any] | None:
    """The boundaries carried in the package for this province, or None."""
    try:
        text = resources.files("phip.orgunits").joinpath(f"data/geo/{province}.json").read_text("utf-8")
    except FileNotFoundError:
        return None
    doc: dict[str, Any] = json.loads(text)
    return doc


def regions(province: str, parent: str) -> dict[str, Any]:
    """The children of `parent` (or `parent` itself when it is a county) as a FeatureCollection
    with `properties.name` (what ECharts matches on) and `properties.code`."""
    doc = packaged(province)
    feats: list[dict[str, Any]] = []
    if doc is not None:
        found = [r for r in doc["regions"] if r["parent"] == parent]
        if not found:
            found = [r for r in doc["regions"] if r["code"] == parent and r["level"] == "county"]
        feats = [
            {
                "type": "Feature",
                "properties": {"name": r["name"], "code": r["code"], "level": r["level"]},
                "geometry": r["geometry"],
            }
            for r in found
        ]
    return {"type": "FeatureCollection", "features": feats}


def region(province: str, code: str) -> dict[str, Any] | None:
    """The packaged boundary of one region (a prefecture or county), or None."""
    doc = packaged(province)
    if doc is None:
        return None
    return next((r for r in doc["regions"] if r["code"] == code), None)


def _in_ring(ring: list[list[float]], x: float, y: float) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def contains(geometry: dict[str, Any], lon: float, lat: float) -> bool:
    """Whether the point lies in the (multi)polygon: inside an outer ring and outside its holes."""
    return any(
        _in_ring(poly[0], lon, lat) and not any(_in_ring(hole, lon, lat) for hole in poly[1:])
        for poly in _polygons(geometry)
    )


def point_in(geometry: dict[str, Any], key: str) -> tuple[float, float] | None:
    """A point inside the region, the same for the same `key` (sampled in the bounding box of its
    largest polygon until one falls inside), rounded to about 10 m; None if none is found."""
    import random

    ring = max((p[0] for p in _polygons(geometry)), key=len)
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    rng = random.Random(key)
    for _ in range(500):
        lon, lat = rng.uniform(min(xs), max(xs)), rng.uniform(min(ys), max(ys))
        if contains(geometry, lon, lat):
            return round(lon, 4), round(lat, 4)
    return None

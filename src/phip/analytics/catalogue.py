"""The indicator catalogue as data (`data/indicators.yaml`, `data/sources.yaml`), loaded and
checked: every indicator names existing sources, supported levels, periods and breakdowns."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

LEVELS = ("province", "prefecture", "county", "township", "facility")
PERIODS = ("day", "week", "month", "quarter", "year")
BREAKDOWNS = ("facility_type", "township_type", "sex", "age_group", "ethnicity", "poverty")
#: the township's kind by its division code (GB/T 10114: 001-099 sub-districts, 100-199 towns,
#: 200-399 townships): the urban/rural grouping of org units
TOWNSHIP_TYPES = ("subdistrict", "town", "rural_township", "above_township")
AGGREGATES = ("count", "persons", "facilities", "sum", "distinct")
MODES = ("event", "state", "span")


class CatalogueError(ValueError):
    """The catalogue is inconsistent."""


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    org: str  # facility / residence
    mode: str  # event / state / span
    sql: str
    #: whether its rows are about residents (small counts of them are suppressed in outputs);
    #: facilities, staff posts, beds and published population figures are not
    people: bool = True
    #: whether the lake keeps its rows as a fact table after each refresh; false for a source
    #: that depends on the judging day (what is owed by today), computed with the catalogue
    facts: bool = True
    #: the title in Chinese (for people; `title` is the English one)
    title_zh: str = ""


@dataclass(frozen=True)
class Measure:
    source: str
    aggregate: str
    expression: str | None = None
    filter: str | None = None


@dataclass(frozen=True)
class Indicator:
    id: str
    name: dict[str, str]
    definition: dict[str, str]
    numerator: Measure
    denominator: Measure | None
    factor: float
    unit: str
    levels: tuple[str, ...]
    periods: tuple[str, ...]
    breakdowns: tuple[str, ...]
    target: float | None
    #: the range a province's value is expected in, and where that expectation comes from; for a
    #: count the range is per 1,000 residents a year
    plausible: tuple[float, float] = (0.0, 0.0)
    plausible_basis: dict[str, str] | None = None
    #: why a share may exceed 100% (None: it cannot, the numerator is part of the denominator)
    exceeds_100: dict[str, str] | None = None

    @property
    def bound(self) -> float | None:
        """The highest value the definition allows (100 for a share), None when unbounded."""
        if self.unit == "%" and self.exceeds_100 is None:
            return 100.0
        return None

    @property
    def about_people(self) -> bool:
        """Whether a measure counts residents (its small cells are suppressed)."""
        return any(m is not None and sources()[m.source].people for m in (self.numerator, self.denominator))

    @property
    def per_resident(self) -> bool:
        """A count, judged per 1,000 residents a year."""
        return self.denominator is None

    def to_json(self) -> dict[str, Any]:
        def measure(m: Measure | None) -> dict[str, Any] | None:
            return None if m is None else {k: v for k, v in vars(m).items() if v is not None}

        return {
            "id": self.id,
            "name": self.name,
            "definition": self.definition,
            "numerator": measure(self.numerator),
            "denominator": measure(self.denominator),
            "factor": self.factor,
            "unit": self.unit,
            "levels": list(self.levels),
            "periods": list(self.periods),
            "breakdowns": list(self.breakdowns),
            "target": self.target,
            "plausible": {"range": list(self.plausible), "basis": self.plausible_basis},
            "bound": self.bound,
            "exceeds_100": self.exceeds_100,
        }


def _measure(data: dict[str, Any], where: str) -> Measure:
    m = Measure(data["source"], data["aggregate"], data.get("expression"), data.get("filter"))
    if m.aggregate not in AGGREGATES:
        raise CatalogueError(f"{where}: aggregate {m.aggregate!r} is not one of {AGGREGATES}")
    if m.aggregate in ("sum", "distinct") and not m.expression:
        raise CatalogueError(f"{where}: aggregate {m.aggregate} needs an expression")
    return m


def _check(ind: Indicator, sources: dict[str, Source]) -> None:
    for part in (ind.numerator, ind.denominator):
        if part is not None and part.source not in sources:
            raise CatalogueError(f"{ind.id}: unknown source {part.source!r}")
    for values, allowed, what in (
        (ind.levels, LEVELS, "level"),
        (ind.periods, PERIODS, "period"),
        (ind.breakdowns, BREAKDOWNS, "breakdown"),
    ):
        for v in values:
            if v not in allowed:
                raise CatalogueError(f"{ind.id}: unknown {what} {v!r}")
    orgs = {sources[p.source].org for p in (ind.numerator, ind.denominator) if p is not None}
    if "residence" in orgs and "facility" in ind.levels:
        raise CatalogueError(f"{ind.id}: a residence-based measure has no facility level")
    if "residence" in orgs and "facility_type" in ind.breakdowns:
        raise CatalogueError(f"{ind.id}: a residence-based measure has no facility type")
    if not {"zh", "en"} <= set(ind.name) or not {"zh", "en"} <= set(ind.definition):
        raise CatalogueError(f"{ind.id}: names and definitions are needed in zh and en")
    lo, hi = ind.plausible
    if not lo < hi or not {"zh", "en"} <= set(ind.plausible_basis or {}):
        raise CatalogueError(
            f"{ind.id}: a plausible range (low < high) and its basis in zh and en are needed"
        )
    if ind.bound is not None and hi > ind.bound:
        raise CatalogueError(f"{ind.id}: the plausible range passes the bound {ind.bound:g} of a share")


def _read(name: str) -> Any:
    text = (resources.files("phip.analytics") / "data" / name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def sources() -> dict[str, Source]:
    out = {}
    for name, s in _read("sources.yaml").items():
        if s["org"] not in ("facility", "residence") or s["mode"] not in MODES:
            raise CatalogueError(f"source {name}: org must be facility/residence and mode one of {MODES}")
        people, facts = s.get("people", True), s.get("facts", True)
        if not isinstance(people, bool) or not isinstance(facts, bool):
            raise CatalogueError(f"source {name}: people and facts must be true or false")
        title = " ".join(str(s["title"]).split())
        title_zh = " ".join(str(s.get("title_zh") or "").split())
        if not title_zh:
            raise CatalogueError(f"source {name}: title_zh (the title in Chinese) is missing")
        out[name] = Source(name, title, s["org"], s["mode"], s["sql"], people, facts, title_zh)
    return out


@cache
def catalogue() -> dict[str, Indicator]:
    srcs = sources()
    out: dict[str, Indicator] = {}
    for data in _read("indicators.yaml"):
        iid = data["id"]
        if iid in out:
            raise CatalogueError(f"indicator {iid} defined twice")
        den = data.get("denominator")
        ind = Indicator(
            id=iid,
            name=data["name"],
            definition=data["definition"],
            numerator=_measure(data["numerator"], f"{iid}.numerator"),
            denominator=_measure(den, f"{iid}.denominator") if den else None,
            factor=float(data.get("factor", 1)),
            unit=str(data.get("unit", "")),
            levels=tuple(data["levels"]),
            periods=tuple(data["periods"]),
            breakdowns=tuple(data.get("breakdowns") or ()),
            target=float(data["target"]) if data.get("target") is not None else None,
            plausible=tuple(float(v) for v in (data.get("plausible") or {}).get("range") or (0, 0)),  # type: ignore[arg-type]
            plausible_basis=(data.get("plausible") or {}).get("basis"),
            exceeds_100=data.get("exceeds_100"),
        )
        _check(ind, srcs)
        out[iid] = ind
    return out

"""GB/T 2260 administrative divisions of the configured province (and NBS township-level codes).

The package carries its own copy of the province's lists under `data/provinces/<code>/`:
`divisions.csv` (province, prefectures, counties; GB/T 2260 via MCA 2019-04 and NBS 2023) and
`townships.csv` (township-level codes, NBS 2023). Nothing here assumes a particular province.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from phip.standards.codesystems import GB2260_DIVISION
from phip.standards.ethnicity import ETHNIC_GROUPS
from phip.standards.idcard import IdNumberChecker

LEVELS = ("province", "prefecture", "county", "township", "village")
LEVEL_DEPTH = {name: i for i, name in enumerate(LEVELS)}

#: Township-level kinds, from the name's ending.
TOWNSHIP_KINDS = {"镇": "town", "乡": "township", "街道": "subdistrict"}


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: str
    parent: str | None
    #: False for NBS statistics-only codes (e.g. a functional zone) that are not GB/T 2260 divisions.
    in_gbt2260: bool = True
    #: town / township / subdistrict / special (farms, parks) for township-level units.
    kind: str = ""
    note: str = ""

    @property
    def depth(self) -> int:
        return LEVEL_DEPTH[self.level]


def township_kind(name: str) -> str:
    for suffix, kind in TOWNSHIP_KINDS.items():
        if name.endswith(suffix):
            return kind
    return "special"


def short_names(name: str, level: str) -> list[str]:
    """Common shortened forms people write in addresses (兰州 for 兰州市, 临夏州 for 临夏回族自治州)."""
    out: list[str] = []
    if level == "township":
        return out
    stem = name
    autonomous = False
    for suffix in ("自治州", "自治县", "自治旗"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            autonomous = True
            break
    if autonomous:
        # Strip trailing ethnic group names while at least two characters remain.
        changed = True
        while changed:
            changed = False
            for g in ETHNIC_GROUPS:
                if stem.endswith(g.name_zh) and len(stem) - len(g.name_zh) >= 2:
                    stem = stem[: -len(g.name_zh)]
                    changed = True
        if stem.endswith("族") and len(stem) > 2:
            stem = stem[:-1]
        out.append(stem)
        if level == "prefecture":
            out.append(stem + "州")
    elif name[-1] in "省市县区" and len(name) >= 3:
        out.append(name[:-1])
    return [s for s in out if s != name and len(s) >= 2]


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    code: str
    level: str
    matched: tuple[str, ...]
    ambiguous: bool = False


@dataclass
class Divisions:
    """All divisions of one province with name ⇄ code lookups and address parsing."""

    province: str
    by_code: dict[str, Division]
    mca_codes: frozenset[str]
    id_area_overrides: dict[str, str] = field(default_factory=dict)
    _children: dict[str, list[str]] = field(default_factory=dict)
    _by_name: dict[str, list[str]] = field(default_factory=dict)
    _aliases: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for d in self.by_code.values():
            if d.parent:
                self._children.setdefault(d.parent, []).append(d.code)
            self._by_name.setdefault(d.name, []).append(d.code)
            for alias in [d.name, *short_names(d.name, d.level)]:
                self._aliases.setdefault(alias[0], []).append((alias, d.code))
        for lst in self._aliases.values():
            lst.sort(key=lambda a: -len(a[0]))

    # ---- lookups -------------------------------------------------------------------------------
    def get(self, code: str) -> Division | None:
        return self.by_code.get(code)

    def name(self, code: str) -> str:
        return self.by_code[code].name

    def codes_for_name(self, name: str) -> list[str]:
        """All codes with this exact name or short form (township names repeat across counties)."""
        name = name.strip()
        hits = list(self._by_name.get(name, []))
        if not hits and name:
            hits = [c for a, c in self._aliases.get(name[0], []) if a == name]
        return sorted(set(hits))

    def children(self, code: str) -> list[Division]:
        return [self.by_code[c] for c in sorted(self._children.get(code, []))]

    def ancestors(self, code: str) -> list[Division]:
        out = []
        d = self.by_code[code]
        while d.parent:
            d = self.by_code[d.parent]
            out.append(d)
        return out

    def full_name(self, code: str) -> str:
        chain = [*reversed(self.ancestors(code)), self.by_code[code]]
        return "".join(d.name for d in chain if not (d.level == "county" and d.name == chain[1].name))

    def at_level(self, level: str) -> list[Division]:
        return sorted((d for d in self.by_code.values() if d.level == level), key=lambda d: d.code)

    def prefectures(self) -> list[Division]:
        return self.at_level("prefecture")

    def counties(self) -> list[Division]:
        return self.at_level("county")

    def townships(self) -> list[Division]:
        return self.at_level("township")

    def __iter__(self) -> Iterator[Division]:
        return iter(sorted(self.by_code.values(), key=lambda d: d.code))

    def __len__(self) -> int:
        return len(self.by_code)

    def id_area_code(self, county_code: str) -> str:
        """The GB/T 2260 code an identity number issued in this county carries. Statistics-only
        codes (not GB/T 2260 divisions) map through the province's `id_area_overrides.csv`, else
        to their parent."""
        d = self.by_code[county_code]
        if d.in_gbt2260:
            return d.code
        return self.id_area_overrides.get(d.code, d.parent or d.code)

    def coding(self, code: str) -> dict[str, str]:
        """FHIR Coding of a division (GB/T 2260, or an NBS township-level code)."""
        return {"system": GB2260_DIVISION, "code": code, "display": self.by_code[code].name}

    def id_checker(self) -> IdNumberChecker:
        """Area codes valid in identity numbers: GB/T 2260 codes of the province (MCA list, province
        and prefecture codes included, as numbers issued at prefecture level carry them)."""
        codes = set(self.mca_codes)
        codes.update(d.code for d in self.by_code.values() if d.level != "township" and d.in_gbt2260)
        return IdNumberChecker(codes, {self.province[:2]})

    # ---- address text → code ---------------------------------------------------------------------
    def _find(self, text: str) -> list[tuple[int, str, str]]:
        hits: list[tuple[int, str, str]] = []
        i, n = 0, len(text)
        while i < n:
            best = None
            for alias, code in self._aliases.get(text[i], ()):
                if text.startswith(alias, i):
                    if best is None or len(alias) == len(best[0]):
                        hits.append((i, alias, code))
                        best = (alias, code)
                    else:
                        break
            i += len(best[0]) if best else 1
        return hits

    def parse_address(self, text: str | None) -> ParsedAddress | None:
        """The most specific division named in a free-text address, or None.

        Every name found must agree with the chosen division's ancestors; a township name that
        repeats across counties is resolved by the county or prefecture named beside it, and left
        at the deepest common ancestor (flagged `ambiguous`) when nothing decides it.
        """
        if not text:
            return None
        hits = self._find(text.replace(" ", "").replace("\u3000", ""))
        if not hits:
            return None
        found = {code for _, _, code in hits}

        def score(code: str) -> tuple[int, int, int]:
            anc = {a.code for a in self.ancestors(code)}
            support = len(anc & found)
            # names at a coarser level that are neither this division nor its ancestors
            d = self.by_code[code]
            conflicts = sum(
                1
                for other in found
                if other != code
                and other not in anc
                and self.by_code[other].depth <= d.depth
                and code not in {a.code for a in self.ancestors(other)}
                and not self._same_named_alternative(other, code, found)
            )
            return (-conflicts, support, d.depth)

        ranked = sorted(found, key=score, reverse=True)
        best_score = score(ranked[0])
        top = [c for c in ranked if score(c) == best_score]
        matched = tuple(dict.fromkeys(a for _, a, _ in hits))
        if len(top) == 1:
            d = self.by_code[top[0]]
            return ParsedAddress(d.code, d.level, matched)
        # Ambiguous: deepest common ancestor of the tied candidates.
        chains = [[c, *[a.code for a in self.ancestors(c)]] for c in top]
        common = set(chains[0]).intersection(*map(set, chains[1:]))
        if not common:
            return ParsedAddress(self.province, "province", matched, ambiguous=True)
        code = max(common, key=lambda c: self.by_code[c].depth)
        return ParsedAddress(code, self.by_code[code].level, matched, ambiguous=True)

    def _same_named_alternative(self, other: str, code: str, found: set[str]) -> bool:
        """True when `other` shares its name with a division that is on `code`'s chain (so the
        name found is explained by the chain and is not a conflict)."""
        chain = {code, *(a.code for a in self.ancestors(code))}
        name = self.by_code[other].name
        return any(c in chain for c in self._by_name.get(name, []))


def _data_dir(province: str) -> Path:
    return Path(str(resources.files("phip.standards") / "data" / "provinces" / province))


def load_divisions(province: str) -> Divisions:
    folder = _data_dir(province)
    if not folder.is_dir():
        raise FileNotFoundError(f"no division data packaged for province {province}")
    by_code: dict[str, Division] = {}
    with open(folder / "divisions.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_code[r["code"]] = Division(
                code=r["code"],
                name=r["name"],
                level=r["level"],
                parent=r["parent_code"] or None,
                in_gbt2260=r["in_gbt2260_mca_201904"] == "yes",
                note=r.get("note", ""),
            )
    with open(folder / "townships.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_code[r["code"]] = Division(
                code=r["code"],
                name=r["name"],
                level="township",
                parent=r["county_code"],
                kind=township_kind(r["name"]),
            )
    with open(folder / "gb2260_mca_201904.csv", encoding="utf-8") as f:
        mca = frozenset(r["code"] for r in csv.DictReader(f))
    overrides: dict[str, str] = {}
    if (folder / "id_area_overrides.csv").exists():
        with open(folder / "id_area_overrides.csv", encoding="utf-8") as f:
            overrides = {r["code"]: r["id_area_code"] for r in csv.DictReader(f)}
    return Divisions(province=province, by_code=by_code, mca_codes=mca, id_area_overrides=overrides)


@lru_cache(maxsize=4)
def get_divisions(province: str | None = None) -> Divisions:
    """Divisions of `province` (default: the configured `PHIP_PROVINCE`)."""
    if province is None:
        from phip.settings import get_settings

        province = get_settings().province
    return load_divisions(province)


_default_checker: list[IdNumberChecker] = []


def default_checker() -> IdNumberChecker:
    """The identity-number checker for the configured province's area codes (built once)."""
    if not _default_checker:
        _default_checker.append(get_divisions().id_checker())
    return _default_checker[0]

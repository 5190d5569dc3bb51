"""ICD-10: the WHO 2019 edition (English), Chinese category names, and the Chinese national
clinical edition's longer codes (e.g. `J18.900`, `I10.x00x002`), accepted by validating their
WHO stem (the 3-character category, or the 4-character subcategory when the 5th character is a digit).
"""

from __future__ import annotations

import csv
import gzip
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from phip.standards import codesystems as cs

_PATTERN = re.compile(r"^([A-Z]\d{2})(?:\.?([0-9X])([0-9]{0,2})(?:X(\d{3}))?)?$")

# Diagnoses restricted to one sex (category ranges, inclusive). Used by consistency rules.
_FEMALE_ONLY = [
    ("O00", "O99"),
    ("N70", "N98"),
    ("C51", "C58"),
    ("D25", "D28"),
    ("D06", "D06"),
    ("Z32", "Z37"),
]
_MALE_ONLY = [("N40", "N51"), ("C60", "C63"), ("D29", "D29"), ("D40", "D40")]

R_FORMAT = "format"
R_UNKNOWN_CATEGORY = "unknown_category"
R_UNKNOWN_SUBCATEGORY = "unknown_subcategory"


@dataclass(frozen=True, slots=True)
class IcdCheck:
    code: str  # normalised form as submitted
    stem: str | None  # WHO code it rests on
    reason: str | None
    national: bool  # True when the code is longer than the WHO form

    @property
    def valid(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Icd10:
    names_en: dict[str, str]
    names_zh: dict[str, str]
    categories_with_subs: frozenset[str]
    chapters: dict[str, str]

    def normalize(self, raw: str) -> str:
        s = raw.strip().upper().translate({0xFF0E: ".", 0x3002: "."})
        return s.rstrip("+*†")

    def check(self, raw: str | None) -> IcdCheck:
        if not raw:
            return IcdCheck("", None, R_FORMAT, False)
        s = self.normalize(raw)
        m = _PATTERN.match(s)
        if not m:
            return IcdCheck(s, None, R_FORMAT, False)
        cat, fourth, rest, ext = m.groups()
        if fourth is not None:  # canonical form: dot after the category, lower-case x placeholders
            s = f"{cat}.{fourth.lower()}{rest}" + (f"x{ext}" if ext else "")
        if cat not in self.names_en:
            return IcdCheck(s, None, R_UNKNOWN_CATEGORY, False)
        if fourth is None:
            return IcdCheck(s, cat, None, False)
        if fourth == "X":  # national edition placeholder for categories without subcategories
            return IcdCheck(s, cat, None, True)
        sub = f"{cat}.{fourth}"
        if len(rest) == 1:  # a WHO 5-character code (B18.00); the national edition uses 3 after the dot
            if sub + rest in self.names_en and ext is None:
                return IcdCheck(s, sub + rest, None, False)
            return IcdCheck(s, None, R_UNKNOWN_SUBCATEGORY, False)
        if sub not in self.names_en:
            return IcdCheck(s, None, R_UNKNOWN_SUBCATEGORY, False)
        return IcdCheck(s, sub, None, bool(rest) or ext is not None)

    def is_valid(self, raw: str | None) -> bool:
        return self.check(raw).reason is None

    def name(self, code: str, locale: str = "zh-CN") -> str | None:
        """Display name; Chinese falls back to the category's Chinese name, then to English."""
        c = self.check(code)
        stem = c.stem or code
        if locale.startswith("zh"):
            if stem in self.names_zh:
                return self.names_zh[stem]
            if stem[:3] in self.names_zh and stem != stem[:3]:
                return self.names_zh[stem[:3]]
        return self.names_en.get(stem)

    def sex_restriction(self, code: str) -> str | None:
        """'female' or 'male' for diagnoses only possible in one sex, else None."""
        cat = self.normalize(code)[:3]
        if any(lo <= cat <= hi for lo, hi in _FEMALE_ONLY):
            return "female"
        if any(lo <= cat <= hi for lo, hi in _MALE_ONLY):
            return "male"
        return None

    def coding(self, code: str, locale: str = "zh-CN") -> dict[str, str]:
        c = self.check(code)
        system = cs.ICD10_CN if c.national else cs.ICD10_WHO
        out = {"system": system, "code": c.code}
        name = self.name(code, locale)
        if name:
            out["display"] = name
        return out


@lru_cache(maxsize=1)
def get_icd10() -> Icd10:
    base = resources.files("phip.standards") / "data" / "icd10"
    names_en: dict[str, str] = {}
    subs: set[str] = set()
    chapters: dict[str, str] = {}
    with gzip.open(str(base / "who_icd10_2019_en.csv.gz"), "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["type"] in ("category", "subcategory"):
                names_en[r["code"]] = r["description"]
                chapters[r["code"]] = r["chapter"]
                if r["type"] == "subcategory":
                    subs.add(r["code"][:3])
    names_zh: dict[str, str] = {}
    with gzip.open(str(base / "icd10_categories_en_zh.csv.gz"), "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["name_zh_chaseliu"]:
                names_zh[r["code"]] = r["name_zh_chaseliu"]
    return Icd10(names_en, names_zh, frozenset(subs), chapters)

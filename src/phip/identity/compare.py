"""Comparison levels for Chinese identity data.

Each comparison looks at one attribute of two derived records (`person.Person`) and returns the
name of the first level that holds, best evidence first; `missing` when either side lacks the
attribute (the model treats it as no evidence). The level lists are the model's vocabulary: the
batch linker and the real-time scorer use the same names, and a level's weight is learnt per
level (m and u probabilities), so a level is worth adding when it separates matches from
non-matches differently than its neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from datetime import date

from rapidfuzz.distance import DamerauLevenshtein, Hamming, JaroWinkler

from phip.identity.person import Person

MISSING = "missing"

LEVELS: dict[str, tuple[str, ...]] = {
    "id_number": ("exact", "equivalent_15_18", "one_edit", "different"),
    "name": (
        "exact",
        "minority_variant",
        "same_pinyin",
        "one_char",
        "pinyin_close",
        "minority_partial",
        "same_surname",
        "different",
    ),
    "birth_date": ("exact", "day_month_swapped", "one_digit", "within_31_days", "same_year", "different"),
    "sex": ("agree", "disagree"),
    "phone": ("exact", "exact_shared", "one_digit", "different"),
    "address": ("same_village", "same_township", "same_county", "text_similar", "different"),
}

#: Jaro-Winkler on pinyin keys at or above which two names are "close"
PINYIN_CLOSE = 0.92
#: Jaro-Winkler on address text at or above which two addresses are "similar"
ADDRESS_SIMILAR = 0.9


def compare_id(a: Person, b: Person) -> str:
    if not a.id_raw or not b.id_raw:
        return MISSING
    if a.id_raw == b.id_raw:
        return "exact"
    if a.id18 and a.id18 == b.id18:
        return "equivalent_15_18"  # one written in the legacy 15-digit form
    # a typo or an adjacent swap that the check digit exposes, repaired to the other's number
    if (a.id18 and a.id18 in b.id_repairs) or (b.id18 and b.id18 in a.id_repairs):
        return "one_edit"
    if a.id_repairs and b.id_repairs and set(a.id_repairs) & set(b.id_repairs):
        return "one_edit"
    # another kind of identifier (a passport, a foreign number): one typo or adjacent swap
    if other_identifier(a) and other_identifier(b) and DamerauLevenshtein.distance(a.id_raw, b.id_raw) <= 1:
        return "one_edit"
    return "different"


def other_identifier(p: Person) -> bool:
    """An identifier that is not shaped like a resident identity number (15 or 18 characters)."""
    return not p.id18 and len(p.id_raw) not in (15, 18)


def compare_name(a: Person, b: Person) -> str:
    if not a.name or not b.name:
        return MISSING
    if a.name == b.name:
        return "exact"
    if (len(a.name_parts) > 1 or len(b.name_parts) > 1) and "".join(a.name_parts) == "".join(b.name_parts):
        return "minority_variant"  # the same name with or without the middle dot
    if a.pinyin and a.pinyin == b.pinyin:
        return "same_pinyin"  # homophones 明/铭, or hanzi and its romanisation
    if (
        a.hanzi == b.hanzi
        and max(len(a.name), len(b.name)) >= 3
        and DamerauLevenshtein.distance(a.name, b.name) <= 1
    ):
        # a dropped, added, changed or swapped character; two-character names that differ in
        # one are only the same surname (陈云 / 陈涛)
        return "one_char"
    if a.pinyin and b.pinyin and JaroWinkler.normalized_similarity(a.pinyin, b.pinyin) >= PINYIN_CLOSE:
        return "pinyin_close"
    if (len(a.name_parts) > 1 or len(b.name_parts) > 1) and (
        set(a.name_parts) <= set(b.name_parts) or set(b.name_parts) <= set(a.name_parts)
    ):
        return "minority_partial"  # one record carries only part of a `·` name
    if a.surname and a.surname == b.surname:
        return "same_surname"
    return "different"


def compare_birth(a: Person, b: Person) -> str:
    x, y = a.birth_any, b.birth_any
    if not x or not y:
        return MISSING
    if x == y:
        return "exact"
    if x[:4] == y[:4] and x[5:7] == y[8:10] and x[8:10] == y[5:7]:
        return "day_month_swapped"
    dx, dy = x.replace("-", ""), y.replace("-", "")
    if Hamming.distance(dx, dy) == 1:
        return "one_digit"
    if abs((date.fromisoformat(x) - date.fromisoformat(y)).days) <= 31:
        return "within_31_days"
    if x[:4] == y[:4]:
        return "same_year"
    return "different"


def compare_sex(a: Person, b: Person) -> str:
    x, y = a.sex_any, b.sex_any
    if not x or not y:
        return MISSING
    return "agree" if x == y else "disagree"


def compare_phone(a: Person, b: Person, shared: Container[str] = frozenset()) -> str:
    """`shared`: phones recorded for several different people (a household's one phone), whose
    agreement is weaker evidence."""
    if not a.phone or not b.phone:
        return MISSING
    if a.phone == b.phone:
        return "exact_shared" if a.phone in shared else "exact"
    if len(a.phone) == len(b.phone) and (
        Hamming.distance(a.phone, b.phone) == 1 or DamerauLevenshtein.distance(a.phone, b.phone) == 1
    ):
        return "one_digit"
    return "different"


def compare_address(a: Person, b: Person) -> str:
    x, y = a.division, b.division
    if x and y:
        if len(x) >= 12 and x[:12] == y[:12]:
            return "same_village"
        if len(x) >= 9 and len(y) >= 9 and x[:9] == y[:9]:
            return "same_township"
        if x[:6] == y[:6] and not x[:6].endswith("00"):
            return "same_county"
    if a.address and b.address:
        if JaroWinkler.normalized_similarity(a.address, b.address) >= ADDRESS_SIMILAR:
            return "text_similar"
        return "different"
    if x and y:
        return "different"
    return MISSING


COMPARISONS: dict[str, Callable[..., str]] = {
    "id_number": compare_id,
    "name": compare_name,
    "birth_date": compare_birth,
    "sex": compare_sex,
    "phone": compare_phone,
    "address": compare_address,
}


def compare(a: Person, b: Person, shared_phones: Container[str] = frozenset()) -> dict[str, str]:
    """Every comparison's level for a pair."""
    out = {name: fn(a, b) for name, fn in COMPARISONS.items() if name != "phone"}
    out["phone"] = compare_phone(a, b, shared_phones)
    return out


def id_consistency(p: Person) -> str:
    """Whether the stated birth date and sex agree with what the identity number carries:
    `consistent`, `birth_mismatch`, `sex_mismatch`, `both_mismatch`, or `no_valid_id`."""
    if not p.id18:
        return "no_valid_id"
    birth_bad = bool(p.birth) and p.birth != p.id_birth
    sex_bad = bool(p.sex) and p.sex != p.id_sex
    if birth_bad and sex_bad:
        return "both_mismatch"
    if birth_bad:
        return "birth_mismatch"
    if sex_bad:
        return "sex_mismatch"
    return "consistent"

"""A person record as submitted (the `phip empi link` CSV columns, or a Patient resource) and the
normalised, derived fields every comparison works on. Deriving happens once per record, so a
comparison of two records is only cheap look-ups and string measures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from phip.standards import idcard
from phip.standards.divisions import default_checker
from phip.standards.names import MIDDLE_DOT, normalize_name, pinyin_key, pinyin_syllables, split_name

_SEX = {
    "1": "1",
    "m": "1",
    "male": "1",
    "男": "1",
    "2": "2",
    "f": "2",
    "female": "2",
    "女": "2",
}
_DATE_PARTS = re.compile(r"(\d{4})\D?(\d{1,2})\D?(\d{1,2})")
_NON_DIGIT = re.compile(r"\D")


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """The contract columns, as given (empty string = missing)."""

    record_id: str
    name: str = ""
    sex: str = ""
    birth_date: str = ""
    id_number: str = ""
    phone: str = ""
    address: str = ""
    #: a GB/T 2260 division code when the source has one (a Patient's address extension)
    division: str = ""
    #: the facility that recorded it and when (survivorship of the golden record)
    source: str = ""
    updated: str = ""


@dataclass(slots=True)
class Person:
    """Normalised and derived fields of one record."""

    record_id: str
    name: str  # normalised: hanzi without spaces, unified `·`; Latin lower-case single-spaced
    hanzi: bool
    pinyin: str  # toneless key; for Latin names the letters themselves
    surname: str  # pinyin of the surname ("" when unknown)
    name_parts: tuple[str, ...]  # `·`-separated parts of a minority name (else the whole name)
    sex: str  # "1" / "2" / ""
    birth: str  # YYYY-MM-DD or ""
    id_raw: str  # normalised as written ("" when missing)
    id18: str  # the valid 18-digit form ("" when missing or invalid)
    id_repairs: tuple[str, ...]  # valid numbers one edit away from an invalid one
    id_birth: str  # birth date and sex the valid number carries
    id_sex: str
    phone: str  # digits, without a +86 / 0086 prefix
    division: str  # most specific division code known ("" when none)
    address: str  # normalised address text
    source: str = ""  # facility code of the recording source ("" when unknown)
    updated: str = ""  # ISO instant of the source's last update ("" when unknown)

    # values every consumer (feature table, blocking keys, comparisons, scorer) must agree on
    @property
    def birth_any(self) -> str:
        """The stated birth date, or the one the valid identity number carries."""
        return self.birth or self.id_birth

    @property
    def sex_any(self) -> str:
        return self.sex or self.id_sex

    @property
    def county(self) -> str:
        return self.division[:6] if len(self.division) >= 6 else ""

    @property
    def id14(self) -> str:
        """Area and birth date digits of the number as written (or of its 18-digit form)."""
        return self.id_raw[:14] if len(self.id_raw) == 18 else self.id18[:14]


def normalise_name(raw: str) -> tuple[str, bool]:
    s = normalize_name(raw)
    hanzi = any("\u4e00" <= ch <= "\u9fff" for ch in s)
    if not hanzi:
        s = " ".join(re.sub(r"[^a-z\s·'-]", " ", s.lower()).replace("-", " ").split())
    return s, hanzi


def normalise_sex(raw: str) -> str:
    return _SEX.get(raw.strip().lower(), "")


def normalise_date(raw: str) -> str:
    """YYYY-MM-DD from the usual spellings (1990-01-05, 1990/1/5, 19900105, 1990年1月5日)."""
    m = _DATE_PARTS.search(raw.strip()) if raw else None
    if not m:
        return ""
    y, mo, d = (int(g) for g in m.groups())
    try:
        return date(y, mo, d).isoformat()
    except ValueError:
        return ""


def normalise_phone(raw: str) -> str:
    digits = _NON_DIGIT.sub("", raw or "")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def derive(rec: PersonRecord) -> Person:
    name, hanzi = normalise_name(rec.name)
    if hanzi:
        key = pinyin_key(name)
        sur, _given = split_name(name)
        surname = "".join(pinyin_syllables(sur)) if sur else ""
    else:
        key = name.replace(" ", "").replace(MIDDLE_DOT, "").replace("'", "")
        surname = ""  # a Latin name's order (family first or last) is unknown
    parts = tuple(p for p in name.split(MIDDLE_DOT) if p) if MIDDLE_DOT in name else (name,) if name else ()
    id_raw = idcard.normalize(rec.id_number)
    id18 = ""
    repairs: tuple[str, ...] = ()
    id_birth = id_sex = ""
    if id_raw:
        check = default_checker().validate(id_raw)
        if check.id18:
            id18 = check.id18
            id_birth = idcard.birth_date(id18).isoformat()
            id_sex = idcard.sex_code(id18)
        elif len(id_raw) == 18:
            repairs = tuple(default_checker().one_edit_repairs(id_raw))
    address = " ".join((rec.address or "").split())
    division = rec.division
    if not division and address:
        from phip.standards.divisions import get_divisions

        parsed = get_divisions().parse_address(address)
        if parsed is not None and not parsed.ambiguous:
            division = parsed.code
    return Person(
        record_id=rec.record_id,
        name=name,
        hanzi=hanzi,
        pinyin=key,
        surname=surname,
        name_parts=parts,
        sex=normalise_sex(rec.sex),
        birth=normalise_date(rec.birth_date),
        id_raw=id_raw,
        id18=id18,
        id_repairs=repairs,
        id_birth=id_birth,
        id_sex=id_sex,
        phone=normalise_phone(rec.phone),
        division=division,
        address=address,
        source=rec.source,
        updated=rec.updated,
    )

"""GB/T 2261.1-2003 human sex codes and their mapping to FHIR administrative-gender."""

from __future__ import annotations

from phip.standards import codesystems as cs

#: code → (zh, en, FHIR administrative-gender)
SEX_CODES: dict[str, tuple[str, str, str]] = {
    "0": ("未知的性别", "Unknown", "unknown"),
    "1": ("男性", "Male", "male"),
    "2": ("女性", "Female", "female"),
    "9": ("未说明的性别", "Not stated", "unknown"),
}
FHIR_GENDERS = frozenset({"male", "female", "other", "unknown"})
_FROM_FHIR = {"male": "1", "female": "2", "unknown": "0", "other": "9"}
_TEXT = {"男": "1", "女": "2", "男性": "1", "女性": "2", "m": "1", "f": "2", "male": "1", "female": "2"}


def is_valid(code: str | None) -> bool:
    return code in SEX_CODES


def to_fhir(code: str) -> str:
    return SEX_CODES[code][2]


def from_fhir(gender: str) -> str:
    return _FROM_FHIR[gender]


def parse(value: str | None) -> str | None:
    """A GB/T 2261.1 code from a code, a FHIR gender or Chinese/English text; None if unknown."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in SEX_CODES:
        return v
    return _TEXT.get(v) or _FROM_FHIR.get(v)


def display(code: str, locale: str = "zh-CN") -> str:
    return SEX_CODES[code][0 if locale.startswith("zh") else 1]


def coding(code: str) -> dict[str, str]:
    return {"system": cs.GB2261_SEX, "code": code, "display": SEX_CODES[code][0]}

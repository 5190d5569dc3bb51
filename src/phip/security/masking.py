"""Masking of personal values shown to people who need to compare, not to know: a steward
reviewing possible duplicates, a verification report sent back to a facility.

An identity number keeps its area code and last four characters (where and the check digit), a
phone its first three and last four digits, a name its first and last character, an address
the division it lies in.
"""

from __future__ import annotations


def mask_id(value: str) -> str:
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    if len(value) <= 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_address(text: str, division: str = "") -> str:
    """The township (or county) the address lies in, by its division code; else nothing."""
    if not division:
        return "***" if text else ""
    from phip.standards.divisions import get_divisions

    divisions = get_divisions()
    code = division[:9] if len(division) >= 9 else division[:6]
    names = [divisions.name(c) for c in (code[:6], code) if divisions.get(c) is not None]
    return "".join(dict.fromkeys(n for n in names if n)) + "***"

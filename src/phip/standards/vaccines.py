"""Vaccines of the national immunisation programme (国家免疫规划疫苗) with their schedule."""

from __future__ import annotations

from phip.standards import codesystems as cs

# National immunisation programme: (code, zh, en, CVX or None, ages in months for each dose)
#: (code, zh, en, CVX or None, ages in months for each dose)
VACCINES: list[tuple[str, str, str, str | None, tuple[int, ...]]] = [
    ("BCG", "卡介苗", "BCG", "19", (0,)),
    ("HepB", "乙肝疫苗", "Hepatitis B", "08", (0, 1, 6)),
    ("IPV", "脊灰灭活疫苗", "Poliovirus inactivated", "10", (2, 3)),
    ("bOPV", "二价脊灰减毒活疫苗", "Poliovirus live oral bivalent", "178", (4, 48)),
    ("DTaP", "百白破疫苗", "DTaP", "20", (3, 4, 5, 18)),
    ("MMR", "麻腮风疫苗", "MMR", "03", (8, 18)),
    ("JE-L", "乙脑减毒活疫苗", "Japanese encephalitis live", None, (8, 24)),
    ("MPSV-A", "A群流脑多糖疫苗", "Meningococcal A polysaccharide", None, (6, 9)),
    ("MPSV-AC", "A群C群流脑多糖疫苗", "Meningococcal AC polysaccharide", None, (36, 72)),
    ("HepA-L", "甲肝减毒活疫苗", "Hepatitis A live", "83", (18,)),
    ("DT", "白破疫苗", "DT", "28", (72,)),
]

BY_CODE = {v[0]: v for v in VACCINES}


def is_valid(code: str | None) -> bool:
    return code in BY_CODE


def coding(code: str) -> dict[str, str]:
    return {"system": cs.VACCINE_NIP, "code": code, "display": BY_CODE[code][1]}

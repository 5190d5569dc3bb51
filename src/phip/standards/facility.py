"""Facility types (WS 218-2002 health institution classification, the part the platform uses),
the three service tiers the province reports on, and hospital grades (医院等级)."""

from __future__ import annotations

from dataclasses import dataclass

from phip.standards import codesystems as cs


@dataclass(frozen=True, slots=True)
class FacilityType:
    code: str  # WS 218-2002 category code
    name_zh: str
    name_en: str
    #: Reporting tier: hospital / primary (township & community centres) / village (clinics)
    tier: str
    #: Org-unit level the facility hangs from.
    level: str
    #: HL7 organization-type code for generic FHIR consumers.
    hl7_type: str


FACILITY_TYPES: tuple[FacilityType, ...] = (
    FacilityType("A100", "综合医院", "General hospital", "hospital", "county", "prov"),
    FacilityType("A210", "中医医院", "Traditional Chinese medicine hospital", "hospital", "county", "prov"),
    FacilityType("A500", "专科医院", "Specialist hospital", "hospital", "county", "prov"),
    FacilityType("A600", "妇幼保健院", "Maternal and child health hospital", "hospital", "county", "prov"),
    FacilityType(
        "B100", "社区卫生服务中心", "Community health service centre", "primary", "township", "prov"
    ),
    FacilityType("C100", "乡镇卫生院", "Township health centre", "primary", "township", "prov"),
    FacilityType("D400", "村卫生室", "Village clinic", "village", "village", "prov"),
)
BY_CODE = {t.code: t for t in FACILITY_TYPES}
TIERS = {
    "hospital": ("医院", "Hospitals"),
    "primary": ("乡镇卫生院和社区卫生服务中心", "Township and community health centres"),
    "village": ("村卫生室", "Village clinics"),
}


@dataclass(frozen=True, slots=True)
class Grade:
    code: str
    name_zh: str
    name_en: str
    level: int  # 3, 2, 1 (0 for ungraded)


GRADES: tuple[Grade, ...] = (
    Grade("3A", "三级甲等", "Tertiary grade A", 3),
    Grade("3B", "三级乙等", "Tertiary grade B", 3),
    Grade("3C", "三级丙等", "Tertiary grade C", 3),
    Grade("2A", "二级甲等", "Secondary grade A", 2),
    Grade("2B", "二级乙等", "Secondary grade B", 2),
    Grade("2C", "二级丙等", "Secondary grade C", 2),
    Grade("1A", "一级甲等", "Primary grade A", 1),
    Grade("1B", "一级乙等", "Primary grade B", 1),
    Grade("1C", "一级丙等", "Primary grade C", 1),
    Grade("0", "未定级", "Ungraded", 0),
)
GRADE_BY_CODE = {g.code: g for g in GRADES}
LEVEL_NAMES = {
    3: ("三级", "Tertiary"),
    2: ("二级", "Secondary"),
    1: ("一级", "Primary"),
    0: ("未定级", "Ungraded"),
}


def is_valid_type(code: str | None) -> bool:
    return code in BY_CODE


def is_valid_grade(code: str | None) -> bool:
    return code in GRADE_BY_CODE


def type_coding(code: str) -> dict[str, str]:
    t = BY_CODE[code]
    return {"system": cs.WS218_FACILITY_TYPE, "code": t.code, "display": t.name_zh}


def grade_coding(code: str) -> dict[str, str]:
    g = GRADE_BY_CODE[code]
    return {"system": cs.HOSPITAL_GRADE, "code": g.code, "display": g.name_zh}


def fhir_types(code: str) -> list[dict[str, object]]:
    """Organization.type: the WS 218 coding plus the HL7 organization-type."""
    t = BY_CODE[code]
    return [
        {"coding": [type_coding(code)], "text": t.name_zh},
        {"coding": [{"system": cs.ORG_TYPE, "code": t.hl7_type, "display": "Healthcare Provider"}]},
    ]

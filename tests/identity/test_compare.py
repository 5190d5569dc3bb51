"""Every comparison level, table-driven, on records as facilities write them."""

from datetime import date

import pytest

from phip.identity.compare import COMPARISONS, LEVELS, MISSING, compare_phone, id_consistency
from phip.identity.person import PersonRecord, derive, normalise_date
from phip.standards import idcard
from phip.standards.divisions import default_checker

ID_A = idcard.make("620102", date(1985, 3, 7), 12, male=False)
ID_B = idcard.make("620102", date(1985, 3, 7), 13, male=False)  # same day, same district: a twin


def _typo(number: str) -> str:
    """One body digit changed: the check digit no longer fits."""
    d = "1" if number[10] != "1" else "2"
    return number[:10] + d + number[11:]


def _swap(number: str) -> str:
    """Two adjacent digits swapped, chosen so that the result is invalid."""
    checker = default_checker()
    for i in range(6, 17):
        if number[i] != number[i + 1]:
            cand = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            if checker.check(cand) is not None:
                return cand
    raise AssertionError("no invalid swap")  # pragma: no cover


def p(**kw: str):  # type: ignore[no-untyped-def]
    return derive(PersonRecord(record_id=kw.pop("rid", "r"), **kw))


CASES = [
    # ---- identity number
    ("id_number", {"id_number": ID_A}, {"id_number": ID_A}, "exact"),
    ("id_number", {"id_number": ID_A}, {"id_number": ID_A.lower().replace("x", "x")}, "exact"),
    ("id_number", {"id_number": ID_A}, {"id_number": f"{ID_A[:6]} {ID_A[6:14]} {ID_A[14:]}"}, "exact"),
    (
        "id_number",
        {"id_number": "620102850307024"},
        {"id_number": idcard.to18("620102850307024")},
        "equivalent_15_18",
    ),
    ("id_number", {"id_number": ID_A}, {"id_number": _typo(ID_A)}, "one_edit"),
    ("id_number", {"id_number": _swap(ID_A)}, {"id_number": ID_A}, "one_edit"),
    ("id_number", {"id_number": ID_A}, {"id_number": ID_B}, "different"),
    # identifiers of another kind (a passport, a foreign number): a typo or swap is one edit
    ("id_number", {"id_number": "E12345678"}, {"id_number": "E12345679"}, "one_edit"),
    ("id_number", {"id_number": "7535316"}, {"id_number": "7553316"}, "one_edit"),
    ("id_number", {"id_number": "7535316"}, {"id_number": "7535"}, "different"),
    ("id_number", {"id_number": ID_A}, {}, MISSING),
    # ---- name
    ("name", {"name": "张丽华"}, {"name": "张丽华"}, "exact"),
    ("name", {"name": "张 丽华"}, {"name": "张丽华"}, "exact"),
    ("name", {"name": "阿依古丽•买买提"}, {"name": "阿依古丽·买买提"}, "exact"),
    ("name", {"name": "阿依古丽·买买提"}, {"name": "阿依古丽买买提"}, "minority_variant"),
    ("name", {"name": "张明"}, {"name": "张铭"}, "same_pinyin"),
    ("name", {"name": "张丽"}, {"name": "Zhang Li"}, "same_pinyin"),
    ("name", {"name": "单田芳"}, {"name": "Shan Tianfang"}, "same_pinyin"),  # 单 read as a surname
    ("name", {"name": "张丽华"}, {"name": "张华"}, "one_char"),
    ("name", {"name": "陈云"}, {"name": "陈涛"}, "same_surname"),  # two characters, one differs
    ("name", {"name": "张丽华"}, {"name": "张丽英"}, "one_char"),
    ("name", {"name": "张丽华"}, {"name": "张华丽"}, "one_char"),
    ("name", {"name": "张丽华"}, {"name": "Zhang Lihau"}, "pinyin_close"),
    ("name", {"name": "阿依古丽·买买提"}, {"name": "阿依古丽"}, "minority_partial"),
    ("name", {"name": "张丽华"}, {"name": "张建国"}, "same_surname"),
    ("name", {"name": "张丽华"}, {"name": "李建国"}, "different"),
    ("name", {"name": ""}, {"name": "李建国"}, MISSING),
    # ---- birth date (stated, else from the identity number)
    ("birth_date", {"birth_date": "1985-03-07"}, {"birth_date": "1985/3/7"}, "exact"),
    ("birth_date", {"id_number": ID_A}, {"birth_date": "19850307"}, "exact"),
    ("birth_date", {"birth_date": "1985-03-07"}, {"birth_date": "1985-07-03"}, "day_month_swapped"),
    ("birth_date", {"birth_date": "1985-03-07"}, {"birth_date": "1985-03-01"}, "one_digit"),
    ("birth_date", {"birth_date": "1985-03-07"}, {"birth_date": "1985-03-20"}, "within_31_days"),
    ("birth_date", {"birth_date": "1985-03-07"}, {"birth_date": "1985-11-20"}, "same_year"),
    ("birth_date", {"birth_date": "1985-03-07"}, {"birth_date": "1990-11-20"}, "different"),
    ("birth_date", {"birth_date": "1985-03-07"}, {"birth_date": "not a date"}, MISSING),
    # ---- sex (stated, else from the identity number)
    ("sex", {"sex": "女"}, {"sex": "2"}, "agree"),
    ("sex", {"sex": "F"}, {"id_number": ID_A}, "agree"),
    ("sex", {"sex": "male"}, {"sex": "2"}, "disagree"),
    ("sex", {"sex": "9"}, {"sex": "2"}, MISSING),
    # ---- phone
    ("phone", {"phone": "13912345678"}, {"phone": "+86 139-1234-5678"}, "exact"),
    ("phone", {"phone": "13912345678"}, {"phone": "13912345670"}, "one_digit"),
    ("phone", {"phone": "13912345678"}, {"phone": "13912346578"}, "one_digit"),
    ("phone", {"phone": "13912345678"}, {"phone": "18800001111"}, "different"),
    ("phone", {"phone": ""}, {"phone": "18800001111"}, MISSING),
    # ---- address (division code when known, else text)
    ("address", {"division": "620102001001"}, {"division": "620102001001"}, "same_village"),
    ("address", {"division": "620102001001"}, {"division": "620102001002"}, "same_township"),
    ("address", {"address": "甘肃省兰州市城关区"}, {"division": "620102001002"}, "same_county"),
    (
        "address",
        {"address": "北京市朝阳区建国路88号"},
        {"address": "北京市朝阳区建国路88号院"},
        "text_similar",
    ),
    ("address", {"division": "620102001001"}, {"division": "620502001001"}, "different"),
    ("address", {"address": "北京市朝阳区建国路88号"}, {"address": "上海市浦东新区世纪大道1号"}, "different"),
    ("address", {}, {"division": "620502001001"}, MISSING),
]


@pytest.mark.parametrize(("attr", "left", "right", "level"), CASES)
def test_levels(attr: str, left: dict[str, str], right: dict[str, str], level: str) -> None:
    a, b = p(**left), p(**right)
    assert COMPARISONS[attr](a, b) == level
    assert COMPARISONS[attr](b, a) == level  # symmetric


def test_every_level_has_a_case() -> None:
    covered = {(attr, level) for attr, _l, _r, level in CASES}
    covered.add(("phone", "exact_shared"))  # below: needs the shared-phone set
    missing = [
        (attr, lvl)
        for attr, levels in LEVELS.items()
        for lvl in (*levels, MISSING)
        if (attr, lvl) not in covered
    ]
    assert missing == []


def test_shared_phone_is_its_own_level() -> None:
    a, b = p(phone="0931-8888888"), p(phone="09318888888")
    assert compare_phone(a, b) == "exact"
    assert compare_phone(a, b, shared={"09318888888"}) == "exact_shared"


@pytest.mark.parametrize(
    ("rec", "verdict"),
    [
        ({"id_number": ID_A, "birth_date": "1985-03-07", "sex": "2"}, "consistent"),
        ({"id_number": ID_A}, "consistent"),
        ({"id_number": ID_A, "birth_date": "1985-07-03", "sex": "2"}, "birth_mismatch"),
        ({"id_number": ID_A, "birth_date": "1985-03-07", "sex": "1"}, "sex_mismatch"),
        ({"id_number": ID_A, "birth_date": "1986-03-07", "sex": "男"}, "both_mismatch"),
        ({"id_number": _typo(ID_A), "birth_date": "1985-03-07"}, "no_valid_id"),
    ],
)
def test_id_cross_check(rec: dict[str, str], verdict: str) -> None:
    assert id_consistency(p(**rec)) == verdict


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("1985-03-07", "1985-03-07"),
        ("1985/3/7", "1985-03-07"),
        ("19850307", "1985-03-07"),
        ("1985年3月7日", "1985-03-07"),
        ("1985-02-30", ""),
        ("", ""),
    ],
)
def test_dates(raw: str, iso: str) -> None:
    assert normalise_date(raw) == iso

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phip.standards import idcard
from phip.standards.divisions import default_checker
from phip.standards.idcard import (
    R_AREA,
    R_CHARS,
    R_CHECK,
    R_DATE,
    R_EMPTY,
    R_FUTURE,
    R_LENGTH,
    check_char,
)

CHECKER = default_checker()
# A valid number (Lanzhou Chengguan, born 1990-01-05, male) and the national-standard example.
VALID = idcard.make("620102", date(1990, 1, 5), 12, True)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (VALID, None),
        ("11010519491231002X", None),  # GB 11643 example: Beijing, out of province, checked at province level
        ("", R_EMPTY),
        ("62010219900105025", R_LENGTH),
        ("6201021990010502591", R_LENGTH),
        ("62010219900105A259", R_CHARS),
        ("62010219900105025Y", R_CHARS),
        ("620199199001050259", R_AREA),  # 620199 is no Gansu division
        ("990102199001050259", R_AREA),  # 99 is no province
        ("620102199002300259", R_DATE),  # 30 February
        ("620102190002290259", R_DATE),  # 1900 was not a leap year
        ("620102209901010259", R_FUTURE),
        (VALID[:17] + ("0" if VALID[17] != "0" else "1"), R_CHECK),
    ],
)
def test_check_reasons(number: str, reason: str | None) -> None:
    assert CHECKER.check(number) == reason


def test_leap_day_is_valid() -> None:
    n = idcard.make("620102", date(2000, 2, 29), 1, False)
    assert CHECKER.check(n) is None
    assert idcard.birth_date(n) == date(2000, 2, 29)
    assert idcard.sex_code(n) == "2"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  62010219900105025x ", "62010219900105025X"),
        ("６２０１０２１９９００１０５０２５ｘ", "62010219900105025X"),
        ("620102 19900105 025X", "62010219900105025X"),
        ("620102-19900105-025X", "62010219900105025X"),
        ("620102\u300019900105025X", "62010219900105025X"),
        (None, ""),
    ],
)
def test_normalize(raw: str | None, expected: str) -> None:
    assert idcard.normalize(raw) == expected


def test_fifteen_to_eighteen_round_trip() -> None:
    n15 = idcard.to15(VALID)
    assert len(n15) == 15
    assert idcard.to18(n15) == VALID
    result = CHECKER.validate(n15)
    assert result.valid and result.legacy15 and result.id18 == VALID
    with pytest.raises(ValueError):
        idcard.to15(idcard.make("620102", date(2001, 1, 1), 1, True))


def test_extract_fields() -> None:
    assert idcard.birth_date(VALID) == date(1990, 1, 5)
    assert idcard.sex_code(VALID) == "1"
    assert idcard.area_code(VALID) == "620102"
    assert idcard.make("620102", date(1990, 1, 5), 12, False)[16] in "02468"


def test_validate_reports_reason_and_never_raises() -> None:
    for raw in ["", "abc", "６２", "620102199013450259", "x" * 40]:
        result = CHECKER.validate(raw)
        assert not result.valid and result.reason is not None and result.id18 is None


def test_check_char_iso7064() -> None:
    # worked example of GB 11643-1999 Annex A
    assert check_char("11010519491231002") == "X"


def test_one_edit_repairs_find_the_true_number() -> None:
    typo = VALID[:9] + str((int(VALID[9]) + 3) % 10) + VALID[10:]
    assert CHECKER.check(typo) is not None
    assert VALID in CHECKER.one_edit_repairs(typo)
    swapped = VALID[:12] + VALID[13] + VALID[12] + VALID[14:]
    if swapped != VALID:
        assert VALID in CHECKER.one_edit_repairs(swapped)
    bad_check = VALID[:17] + ("1" if VALID[17] != "1" else "2")
    assert VALID in CHECKER.one_edit_repairs(bad_check)


def test_one_edit_repairs_are_all_valid_and_one_edit_away() -> None:
    typo = VALID[:3] + "5" + VALID[4:] if VALID[3] != "5" else VALID[:3] + "6" + VALID[4:]
    repairs = CHECKER.one_edit_repairs(typo)
    assert repairs
    for r in repairs:
        assert CHECKER.check(r) is None
        diff = [i for i in range(18) if r[i] != typo[i]]
        assert len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and r[diff[0]] == typo[diff[1]])


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["620102", "620121", "622926", "623027", "620200", "620525"]),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)),
    st.integers(min_value=0, max_value=499),
    st.booleans(),
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=9),
)
def test_a_single_digit_typo_is_caught_and_repairable(
    area: str, born: date, seq: int, male: bool, pos: int, delta: int
) -> None:
    n = idcard.make(area, born, seq, male)
    assert CHECKER.check(n) is None
    typo = n[:pos] + str((int(n[pos]) + delta) % 10) + n[pos + 1 :]
    # MOD 11-2 detects every single-digit substitution
    assert CHECKER.check(typo) is not None
    assert n in CHECKER.one_edit_repairs(typo)


def test_agrees_with_id_validator_oracle() -> None:
    """id-validator is slow but correct: both agree on a sample of valid and corrupted numbers."""
    pytest.importorskip("id_validator")
    import random
    from datetime import timedelta

    from id_validator import validator

    rng = random.Random(3)
    counties = ["620102", "620421", "621126", "622921", "623001", "620902"]
    agree = 0
    for i in range(150):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(30000))
        n = idcard.make(rng.choice(counties), born, rng.randrange(500), rng.random() < 0.5)
        if i % 2:
            j = rng.randrange(18)
            n = n[:j] + rng.choice("0123456789") + n[j + 1 :]
        assert CHECKER.is_valid(n) == bool(validator.is_valid(n)), n
        agree += 1
    assert agree == 150

import csv
import gzip
from pathlib import Path

import pytest

from phip.standards import ethnicity, facility, sex
from phip.standards.icd10 import R_FORMAT, R_UNKNOWN_CATEGORY, R_UNKNOWN_SUBCATEGORY, get_icd10
from phip.standards.names import pinyin_key, romanize, split_name
from phip.standards.statistics import census

ICD = get_icd10()


@pytest.mark.parametrize(
    ("code", "zh", "fhir"),
    [
        ("0", "未知的性别", "unknown"),
        ("1", "男性", "male"),
        ("2", "女性", "female"),
        ("9", "未说明的性别", "unknown"),
    ],
)
def test_sex_codes(code: str, zh: str, fhir: str) -> None:
    assert sex.is_valid(code)
    assert sex.display(code) == zh
    assert sex.to_fhir(code) == fhir
    assert sex.coding(code)["code"] == code


@pytest.mark.parametrize(
    ("text", "code"), [("男", "1"), ("女性", "2"), ("female", "2"), ("M", "1"), ("x", None)]
)
def test_sex_parse(text: str, code: str | None) -> None:
    assert sex.parse(text) == code


def test_all_56_ethnic_groups() -> None:
    assert len(ethnicity.ETHNIC_GROUPS) == 56
    assert [g.code for g in ethnicity.ETHNIC_GROUPS] == [f"{i:02d}" for i in range(1, 57)]
    assert len({g.alpha for g in ethnicity.ETHNIC_GROUPS}) == 56
    assert len({g.name_zh for g in ethnicity.ETHNIC_GROUPS}) == 56
    for code, zh in [
        ("01", "汉族"),
        ("03", "回族"),
        ("04", "藏族"),
        ("26", "东乡族"),
        ("30", "土族"),
        ("35", "撒拉族"),
        ("47", "保安族"),
        ("48", "裕固族"),
    ]:
        assert ethnicity.BY_CODE[code].name_zh == zh
    assert (
        ethnicity.lookup("回") == ethnicity.lookup("HU") == ethnicity.lookup("3") == ethnicity.BY_CODE["03"]
    )
    assert ethnicity.is_valid("97") and not ethnicity.is_valid("99") and not ethnicity.is_valid("")
    assert ethnicity.display("48", "en") == "Yugur"


@pytest.mark.parametrize(
    ("code", "valid", "stem", "national", "reason"),
    [
        ("I10", True, "I10", False, None),
        ("J18.9", True, "J18.9", False, None),
        ("j18.9", True, "J18.9", False, None),
        ("J189", True, "J18.9", False, None),
        ("J18.900", True, "J18.9", True, None),
        ("I10.x00x002", True, "I10", True, None),
        ("A01.000x001", True, "A01.0", True, None),
        ("E11.900", True, "E11.9", True, None),
        ("B18.00", True, "B18.00", False, None),
        ("I10+", True, "I10", False, None),
        ("X99.9", False, None, False, R_UNKNOWN_SUBCATEGORY),
        ("U99", False, None, False, R_UNKNOWN_CATEGORY),
        ("J18.99", False, None, False, R_UNKNOWN_SUBCATEGORY),
        ("ABC", False, None, False, R_FORMAT),
        ("", False, None, False, R_FORMAT),
    ],
)
def test_icd10(code: str, valid: bool, stem: str | None, national: bool, reason: str | None) -> None:
    c = ICD.check(code)
    assert (c.valid, c.stem, c.national, c.reason) == (valid, stem, national, reason)


def test_icd10_counts_and_names(shared_data: Path) -> None:
    with open(shared_data / "icd10" / "who_icd10_2019_en.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["type"] in ("category", "subcategory")]
    assert len(ICD.names_en) == len(rows)
    assert ICD.name("J18.900") == "肺炎,病原体未特指"
    assert ICD.name("I10", "en") == "Essential (primary) hypertension"
    assert ICD.coding("J18.900")["system"].endswith("icd-10-cn")
    assert ICD.coding("J18.9")["system"] == "http://hl7.org/fhir/sid/icd-10"
    pkg = Path(__import__("phip.standards", fromlist=["x"]).__file__).parent / "data" / "icd10"
    with gzip.open(pkg / "who_icd10_2019_en.csv.gz", "rb") as f:
        assert f.read() == (shared_data / "icd10" / "who_icd10_2019_en.csv").read_bytes()


@pytest.mark.parametrize(
    ("code", "restriction"),
    [("O80", "female"), ("N76.0", "female"), ("N40", "male"), ("C61", "male"), ("J18.9", None)],
)
def test_sex_specific_diagnoses(code: str, restriction: str | None) -> None:
    assert ICD.sex_restriction(code) == restriction


def test_facility_types_and_grades() -> None:
    tiers = {t.tier for t in facility.FACILITY_TYPES}
    assert tiers == {"hospital", "primary", "village"}
    assert facility.BY_CODE["C100"].name_zh == "乡镇卫生院"
    assert facility.BY_CODE["B100"].name_zh == "社区卫生服务中心"
    assert facility.BY_CODE["D400"].name_zh == "村卫生室"
    assert [g.name_zh for g in facility.GRADES if g.level == 3] == ["三级甲等", "三级乙等", "三级丙等"]
    assert facility.is_valid_grade("2A") and not facility.is_valid_grade("4A")
    types = facility.fhir_types("A100")
    assert types[0]["coding"][0]["code"] == "A100"
    assert facility.grade_coding("3A")["display"] == "三级甲等"


@pytest.mark.parametrize(
    ("name", "roman", "key"),
    [
        ("张丽", "Zhang Li", "zhangli"),
        ("单雄信", "Shan Xiongxin", "shanxiongxin"),
        ("曾小明", "Zeng Xiaoming", "zengxiaoming"),
        ("解缙", "Xie Jin", "xiejin"),
        ("朴正", "Piao Zheng", "piaozheng"),
        ("欧阳娜娜", "Ouyang Nana", "ouyangnana"),
    ],
)
def test_name_pinyin_with_surname_readings(name: str, roman: str, key: str) -> None:
    assert romanize(name) == roman
    assert pinyin_key(name) == key


def test_homophones_share_a_pinyin_key_and_minority_names_split() -> None:
    assert pinyin_key("张明") == pinyin_key("张铭")
    assert split_name("努尔兰·哈力克") == ("", "努尔兰·哈力克")
    assert split_name("努尔兰•哈力克") == ("", "努尔兰·哈力克")
    assert split_name("司马光") == ("司马", "光")


def test_census() -> None:
    c = census("620000")
    assert c.total == 25019831
    assert len(c.by_prefecture) == 14
    assert c.by_prefecture["620100"] == 4359446
    assert abs(c.age_0_14 + c.age_15_59 + c.age_60_plus - 1.0) < 1e-9

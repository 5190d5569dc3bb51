import csv
from pathlib import Path

import pytest

from phip.standards.divisions import get_divisions, short_names

D = get_divisions("620000")


def test_counts_match_the_reference_lists(shared_data: Path) -> None:
    assert len(D.prefectures()) == 14
    counties = D.counties()
    assert len([c for c in counties if c.in_gbt2260]) == 86
    assert {c.code for c in counties if not c.in_gbt2260} == {"620171", "620201"}
    with open(shared_data / "divisions" / "gansu_township_streets_2023.csv", encoding="utf-8") as f:
        assert len(D.townships()) == sum(1 for _ in csv.DictReader(f)) == 1403


def test_packaged_copy_equals_shared_data(shared_data: Path) -> None:
    pkg = Path(__import__("phip.standards", fromlist=["x"]).__file__).parent / "data" / "provinces" / "620000"
    assert (pkg / "townships.csv").read_bytes() == (
        shared_data / "divisions" / "gansu_township_streets_2023.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("兰州市", ["620100"]),
        ("兰州", ["620100"]),
        ("临夏州", ["622900"]),
        ("东乡族自治县", ["622926"]),
        ("东乡", ["622926"]),
        ("积石山", ["622927"]),
        ("酒泉路街道", ["620102001"]),
        ("北京市", []),
    ],
)
def test_name_to_code(name: str, codes: list[str]) -> None:
    assert D.codes_for_name(name) == codes


def test_code_to_name_and_tree() -> None:
    assert D.name("620102") == "城关区"
    assert [a.code for a in D.ancestors("620102001")] == ["620102", "620100", "620000"]
    assert D.full_name("620102001") == "甘肃省兰州市城关区酒泉路街道"
    assert D.full_name("620201") == "甘肃省嘉峪关市"
    assert all(c.level == "county" for c in D.children("620100"))
    assert len(D.codes_for_name("城关镇")) == 20  # township names repeat across counties


@pytest.mark.parametrize(
    ("text", "code", "level", "ambiguous"),
    [
        ("甘肃省兰州市城关区酒泉路街道某小区3号楼", "620102001", "township", False),
        ("临夏州东乡县", "622926", "county", False),
        ("甘南州夏河县拉卜楞镇", "623027100", "township", False),
        ("永登县城关镇", "620121100", "township", False),
        ("天水市秦州区", "620502", "county", False),
        ("张家川县", "620525", "county", False),
        ("兰州新区", "620171", "county", False),
        ("兰州 城关区", "620102", "county", False),
        ("城关镇", "620000", "province", True),  # 20 townships share the name: nothing decides
        ("庆阳市", "621000", "prefecture", False),
    ],
)
def test_address_to_most_specific_code(text: str, code: str, level: str, ambiguous: bool) -> None:
    parsed = D.parse_address(text)
    assert parsed is not None
    assert (parsed.code, parsed.level, parsed.ambiguous) == (code, level, ambiguous)


def test_address_with_no_division_is_none() -> None:
    assert D.parse_address("北京市朝阳区") is None
    assert D.parse_address("") is None
    assert D.parse_address(None) is None


def test_division_coding() -> None:
    coding = D.coding("622926")
    assert coding["code"] == "622926" and coding["display"] == "东乡族自治县"
    assert coding["system"].endswith("gb-t-2260-division")


def test_short_names() -> None:
    assert short_names("积石山保安族东乡族撒拉族自治县", "county") == ["积石山"]
    assert short_names("临夏回族自治州", "prefecture") == ["临夏", "临夏州"]
    assert short_names("城关镇", "township") == []


def test_id_area_codes() -> None:
    assert D.id_area_code("620102") == "620102"
    assert D.id_area_code("620171") == "620121"
    assert D.id_area_code("620201") == "620200"
    checker = D.id_checker()
    assert checker.area_ok("620200") and checker.area_ok("620102") and not checker.area_ok("620171")


def test_unknown_province_is_a_clear_error() -> None:
    from phip.standards.divisions import load_divisions

    with pytest.raises(FileNotFoundError, match="no division data"):
        load_divisions("990000")

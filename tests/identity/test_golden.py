"""Survivorship: every rule of the golden record decides the case it is for, with provenance."""

from datetime import date

import pytest

from phip.identity.golden import build, trust
from phip.identity.person import PersonRecord, derive
from phip.standards import idcard

NUM = idcard.make("620102", date(1961, 12, 10), 0, False)  # a woman born 1961-12-10
HOSPITAL, TOWNSHIP, CLINIC = "620102-A100-01", "620102001-C100-01", "620102001001-D400-01"


def rec(
    rid: str, source: str = TOWNSHIP, updated: str = "2025-01-01T00:00:00+08:00", **kw: str
) -> PersonRecord:
    return PersonRecord(record_id=rid, source=source, updated=updated, **kw)


CASES = [
    # (attribute, records, expected value, expected record, expected rule)
    (
        "id_number",
        [rec("a", id_number=NUM[:-1] + "X" if NUM[-1] != "X" else NUM[:-1] + "1"), rec("b", id_number=NUM)],
        NUM,
        "b",
        "valid-number",
    ),
    (
        "name",
        [rec("a", CLINIC, name="周巧"), rec("b", HOSPITAL, name="周翘")],
        "周翘",
        "b",
        "most-trusted-source",
    ),
    (
        "name",
        [rec("a", name="周巧"), rec("b", name="周翘"), rec("c", name="周巧")],
        "周巧",
        "a",
        "most-frequent",
    ),
    (
        "name",
        [rec("a", name="周巧", updated="2024-01-01"), rec("b", name="周翘", updated="2025-06-01")],
        "周翘",
        "b",
        "most-recent",
    ),
    ("name", [rec("a", name="周巧"), rec("b", name="周巧")], "周巧", "a", "agreed"),
    ("name", [rec("a", name="周巧"), rec("b")], "周巧", "a", "only"),
    (
        "sex",
        [rec("a", HOSPITAL, sex="male", id_number=NUM), rec("b", CLINIC, sex="female")],
        "2",
        "b",
        "agrees-with-identity-number",
    ),
    (
        "birth_date",
        [rec("a", HOSPITAL, birth_date="1961-10-12", id_number=NUM), rec("b", birth_date="1961-12-10")],
        "1961-12-10",
        "b",
        "agrees-with-identity-number",
    ),
    (
        "birth_date",
        [rec("a", birth_date="1961-10-12"), rec("b", HOSPITAL, birth_date="1961-12-10")],
        "1961-12-10",
        "b",
        "most-trusted-source",
    ),
    ("sex", [rec("a", id_number=NUM)], "2", "a", "from-identity-number"),
    (
        "phone",
        [
            rec("a", HOSPITAL, phone="13600000001", updated="2024-01-01"),
            rec("b", CLINIC, phone="13900000002", updated="2025-01-01"),
        ],
        "13900000002",
        "b",
        "most-recent",
    ),
    (
        "address",
        [
            rec("a", address="甘肃省兰州市城关区"),
            rec("b", address="甘肃省兰州市城关区酒泉路街道兴隆街社区116号", division="620102001001"),
        ],
        "甘肃省兰州市城关区酒泉路街道兴隆街社区116号",
        "b",
        "most-complete",
    ),
]


@pytest.mark.parametrize(("attr", "records", "value", "record", "rule"), CASES)
def test_survivorship(attr: str, records: list[PersonRecord], value: str, record: str, rule: str) -> None:
    g = build([derive(r) for r in records])
    assert g["attributes"][attr] == {**g["attributes"][attr], "value": value, "record": record, "rule": rule}
    assert g["records"] == sorted(r.record_id for r in records)


def test_every_rule_is_exercised() -> None:
    rules = {c[4] for c in CASES}
    assert rules >= {
        "valid-number",
        "most-trusted-source",
        "most-frequent",
        "most-recent",
        "agreed",
        "only",
        "agrees-with-identity-number",
        "from-identity-number",
        "most-complete",
    }


def test_deterministic_and_order_free() -> None:
    people = [
        derive(rec(str(i), name=n, phone=f"1390000000{i}")) for i, n in enumerate(["甲乙", "甲丙", "甲丁"])
    ]
    assert build(people) == build(list(reversed(people)))
    assert build(people)["attributes"]["name"]["rule"] == "smallest-record-id"
    assert build([]) == {"attributes": {}, "records": [], "sources": []}


def test_source_trust_from_facility_code() -> None:
    assert trust(HOSPITAL) > trust(TOWNSHIP) > trust(CLINIC) > trust("") == trust("nonsense") == 0

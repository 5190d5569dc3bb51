"""A finding's value in words: each shape the rules and the door give, in Chinese and English."""

import pytest

from phip.web.console.i18n import Translator


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        (
            "Patient/8f43beb5 is neither in this submission nor in the store",
            "引用的患者档案 8f43beb5 既不在本次上传中，也不在库中",
            "the Patient record 8f43beb5 it refers to is neither in this submission nor in the store",
        ),
        ("Encounter/a1 is not in the store", "引用的就诊 a1 不在库中", None),
        ("Condition.code is required", "Condition.code 为必填项", "Condition.code is required"),
        (
            "not a valid GB 11643 identity number (check_digit)",
            "不是有效的 GB 11643 身份证号（校验码错误）",
            "not a valid GB 11643 identity number (wrong check digit)",
        ),
        (
            "ICD-10 code 'U9' is not valid (unknown_category)",
            "ICD-10 编码“U9”无效（类目不存在）",
            "ICD-10 code “U9” is not valid (unknown category)",
        ),
        ("'99' is not a GB/T 3304 code", "“99”不是 GB/T 3304 中的代码", "“99” is not a GB/T 3304 code"),
        ("not a dateTime (dateTime)", "不是有效的日期时间", "not a valid date and time"),
        ("not a positive integer", "不是有效的正整数", "not a valid positive whole number"),
        ("differs", "不一致", "differs"),
        ("copy 2", "第 2 份重复", "copy 2"),
        ("12 (median 30)", "12（中位数 30）", "12 (median 30)"),
        ("N97 / male", "N97 / 男", "N97 / male"),
        ("female", "女", "female"),
        # values of no known shape are shown as they are
        ("2025-03-01", "2025-03-01", "2025-03-01"),
        ("190/120 mmHg", "190/120 mmHg", "190/120 mmHg"),
        (None, "—", "—"),
    ],
)
def test_finding_values_in_both_languages(value: str | None, zh: str, en: str | None) -> None:
    assert Translator("zh-CN").finding(value) == zh
    if en is not None:
        assert Translator("en").finding(value) == en

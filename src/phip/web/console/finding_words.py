"""A finding's value in the reader's language.

The rules give short values in words of their own ('differs', 'copy 1', '12 (median 30)') and
the door's diagnostics for refused records (`quarantine.detail`: 'Patient/… is neither in this
submission nor in the store', 'not a valid GB 11643 identity number (check_digit)'). Each shape
is put into Chinese or English words; the identifiers, codes and numbers it quotes are kept as
they are. A value of no known shape (a date, a code, a blood pressure) is shown unchanged."""

from __future__ import annotations

import re
from collections.abc import Callable

#: reasons an identity number or an ICD-10 code fails (phip.standards.idcard, .icd10)
REASONS: dict[str, tuple[str, str]] = {
    "empty": ("为空", "empty"),
    "length": ("位数不对", "wrong length"),
    "characters": ("含非法字符", "characters not allowed"),
    "area_code": ("地区码不存在", "unknown area code"),
    "birth_date": ("出生日期不存在", "impossible birth date"),
    "birth_date_future": ("出生日期在将来", "birth date in the future"),
    "check_digit": ("校验码错误", "wrong check digit"),
    "format": ("格式不符", "malformed"),
    "unknown_category": ("类目不存在", "unknown category"),
    "unknown_subcategory": ("亚目不存在", "unknown subcategory"),
}

#: the kinds of value the door checks an element against (phip.exchange.structure)
KINDS: dict[str, tuple[str, str]] = {
    "boolean": ("布尔值", "true or false"),
    "integer": ("整数", "whole number"),
    "positive integer": ("正整数", "positive whole number"),
    "decimal": ("数值", "number"),
    "string": ("文本", "text"),
    "code": ("代码", "code"),
    "uri": ("URI", "URI"),
    "date": ("日期", "date"),
    "dateTime": ("日期时间", "date and time"),
    "time": ("时间", "time"),
    "instant": ("时刻", "instant"),
}

#: (shape, Chinese, English): `{name}` is a group of the shape, put into words where it is a
#: record kind (`type`), a reason (`reason`), a kind of value (`kind`) or a sex (`sex`)
SHAPES: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"(?P<type>[A-Za-z]+)/(?P<id>\S+) is neither in this submission nor in the store"),
        "引用的{type} {id} 既不在本次上传中，也不在库中",
        "the {type} {id} it refers to is neither in this submission nor in the store",
    ),
    (
        re.compile(r"(?P<type>[A-Za-z]+)/(?P<id>\S+) is not in the store"),
        "引用的{type} {id} 不在库中",
        "the {type} {id} it refers to is not in the store",
    ),
    (
        re.compile(r"(?P<ref>.+) cannot be resolved"),
        "引用 {ref} 无法解析",
        "the reference {ref} cannot be resolved",
    ),
    (re.compile(r"(?P<path>[A-Z][A-Za-z]*\.\S+) is required"), "{path} 为必填项", "{path} is required"),
    (
        re.compile(r"not a valid GB 11643 identity number \((?P<reason>\w+)\)"),
        "不是有效的 GB 11643 身份证号（{reason}）",
        "not a valid GB 11643 identity number ({reason})",
    ),
    (
        re.compile(r"ICD-10 code '(?P<code>.*)' is not valid \((?P<reason>\w+)\)"),
        "ICD-10 编码“{code}”无效（{reason}）",
        "ICD-10 code “{code}” is not valid ({reason})",
    ),
    (
        re.compile(r"'(?P<code>.*)' is not a GB/T (?P<std>[\d.]+) code"),
        "“{code}”不是 GB/T {std} 中的代码",
        "“{code}” is not a GB/T {std} code",
    ),
    (
        re.compile(r"'(?P<code>.*)' is not an administrative-gender code"),
        "“{code}”不是性别代码",
        "“{code}” is not a sex code",
    ),
    (
        re.compile(r"not an? (?P<kind>positive integer|[A-Za-z]+)(?: \(\w+\))?"),
        "不是有效的{kind}",
        "not a valid {kind}",
    ),
    (re.compile(r"ids are at most 64 characters"), "编号最长 64 个字符", "ids are at most 64 characters"),
    (re.compile(r"differs"), "不一致", "differs"),
    (re.compile(r"copy (?P<n>\d+)"), "第 {n} 份重复", "copy {n}"),
    (re.compile(r"record (?P<n>\d+)"), "第 {n} 条", "record {n}"),
    (re.compile(r"no active coverage"), "无有效医保", "no active coverage"),
    (re.compile(r"(?P<n>\d+) \(median (?P<m>[\d.]+)\)"), "{n}（中位数 {m}）", "{n} (median {m})"),
    (re.compile(r"(?P<code>\S+) / (?P<sex>[a-z]+)"), "{code} / {sex}", "{code} / {sex}"),
    (re.compile(r"(?P<sex>male|female|other|unknown)"), "{sex}", "{sex}"),
]


def finding_value(
    value: str | None, zh: bool, resource: Callable[[str], str], code: Callable[[str], str]
) -> str:
    """`value` in words (`resource` names a record kind, `code` a coded value such as a sex)."""
    if value is None:
        return "—"
    text = value.strip()
    for shape, zh_words, en_words in SHAPES:
        m = shape.fullmatch(text)
        if m is None:
            continue
        groups = dict(m.groupdict())
        if "type" in groups:
            groups["type"] = resource(groups["type"] + "/x")
        for name, table in (("reason", REASONS), ("kind", KINDS)):
            if name in groups:
                pair = table.get(groups[name])
                groups[name] = groups[name] if pair is None else pair[0 if zh else 1]
        if "sex" in groups:
            groups["sex"] = code(groups["sex"])
        return (zh_words if zh else en_words).format(**groups)
    return text

"""Indicator results as files: CSV (UTF-8 with a byte-order mark, as Excel opens it) and Excel.

Without a language the columns and values are the machine's (codes, for programs reading the
API). With one (`zh-CN` or `en`) a file is for people: headers, levels, period types,
breakdowns, categories and units in words, hidden cells said so; the Excel file then carries a
second sheet describing each indicator in it (definition, numerator, denominator, sources, unit,
target, plausible range) and when the results were computed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

from phip.analytics.catalogue import catalogue, sources
from phip.standards import ethnicity

COLUMNS = (
    "indicator",
    "indicator_name",
    "level",
    "org_unit",
    "org_unit_name",
    "period_type",
    "period",
    "breakdown",
    "category",
    "numerator",
    "denominator",
    "value",
    "unit",
    "suppressed",
)

HEADERS: dict[str, tuple[str, str]] = {
    "indicator": ("指标编码", "Indicator code"),
    "indicator_name": ("指标", "Indicator"),
    "level": ("层级", "Level"),
    "org_unit": ("区划/机构编码", "Org unit code"),
    "org_unit_name": ("区划/机构", "Org unit"),
    "period_type": ("周期类型", "Period type"),
    "period": ("周期", "Period"),
    "breakdown": ("分组", "Breakdown"),
    "category": ("类别", "Category"),
    "numerator": ("分子", "Numerator"),
    "denominator": ("分母", "Denominator"),
    "value": ("值", "Value"),
    "unit": ("单位", "Unit"),
    "suppressed": ("已隐藏", "Hidden"),
}

WORDS: dict[str, tuple[str, str]] = {
    # levels and period types
    "province": ("省", "Province"),
    "prefecture": ("市州", "Prefecture"),
    "county": ("县区", "County"),
    "township": ("乡镇街道", "Township"),
    "facility": ("机构", "Facility"),
    "day": ("日", "Day"),
    "week": ("周", "Week"),
    "month": ("月", "Month"),
    "quarter": ("季度", "Quarter"),
    "year": ("年", "Year"),
    # breakdowns
    "sex": ("性别", "Sex"),
    "age_group": ("年龄组", "Age group"),
    "ethnicity": ("民族", "Ethnicity"),
    "poverty": ("贫困户", "Poverty household"),
    "facility_type": ("机构类型", "Facility type"),
    "township_type": ("乡镇类型（城乡）", "Township type (urban/rural)"),
    "subdistrict": ("街道（城区）", "Sub-district (urban)"),
    "town": ("镇", "Town"),
    "rural_township": ("乡", "Township (rural)"),
    "above_township": ("县级及以上机构", "Above township level"),
    # categories
    "male": ("男", "Male"),
    "female": ("女", "Female"),
    "other": ("其他", "Other"),
    "unknown": ("未知", "Unknown"),
    "poor": ("建档立卡贫困户", "Poverty household"),
    "not-poor": ("非贫困户", "Not a poverty household"),
    "hospital": ("医院", "Hospitals"),
    "primary": ("基层医疗卫生机构", "Primary care centres"),
    "village": ("村卫生室", "Village clinics"),
    # units
    "days": ("天", "days"),
    "CNY": ("元", "CNY"),
}
HIDDEN = ("小于5例，已隐藏", "fewer than 5, hidden")

META_HEADERS = (
    ("指标编码", "Indicator code"),
    ("指标", "Indicator"),
    ("定义", "Definition"),
    ("分子", "Numerator"),
    ("分母", "Denominator"),
    ("单位", "Unit"),
    ("目标值", "Target"),
    ("合理范围", "Plausible range"),
    ("计算时间", "Computed at"),
)


def _zh(locale: str) -> bool:
    return locale.startswith("zh")


def _word(code: str | None, locale: str) -> str:
    if not code:
        return ""
    pair = WORDS.get(code)
    return code if pair is None else pair[0] if _zh(locale) else pair[1]


def _category(breakdown: str, code: str | None, locale: str) -> str:
    if not code:
        return ""
    if breakdown == "ethnicity":
        try:
            return ethnicity.display(code, locale)
        except KeyError:
            return code
    return _word(code, locale)


def labelled(row: dict[str, Any], locale: str) -> list[Any]:
    """A result row's cells in words (`locale`), in the order of `COLUMNS`."""
    zh = _zh(locale)
    words = {
        "level": _word(row["level"], locale),
        "period_type": _word(row["period_type"], locale),
        "breakdown": _word(row["breakdown"], locale),
        "category": _category(row["breakdown"], row["category"], locale),
        "unit": _word(row["unit"], locale) if row["unit"] in WORDS else row["unit"],
        "suppressed": (HIDDEN[0] if zh else HIDDEN[1]) if row["suppressed"] else "",
    }
    return [words.get(c, row[c]) for c in COLUMNS]


def header(locale: str | None) -> list[str]:
    if locale is None:
        return list(COLUMNS)
    return [HEADERS[c][0] if _zh(locale) else HEADERS[c][1] for c in COLUMNS]


def write_csv(rows: list[dict[str, Any]], out: IO[str], locale: str | None = None) -> None:
    w = csv.writer(out)
    w.writerow(header(locale))
    for r in rows:
        cells = labelled(r, locale) if locale else [r[c] for c in COLUMNS]
        w.writerow(["" if v is None else v for v in cells])


def save_csv(rows: list[dict[str, Any]], path: Path, locale: str | None = None) -> None:
    """A CSV file Excel opens as UTF-8 (with a byte-order mark)."""
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        write_csv(rows, f, locale)


def _measure(m: Any, locale: str) -> str:
    """A measure in words: how it adds up, over which source (its conditions are in the
    indicator's definition; the catalogue's reference page gives the SQL)."""
    if m is None:
        return ""
    src = sources()[m.source]
    if _zh(locale):
        agg = {"count": "计数", "sum": "合计", "persons": "人数（每人计一次）"}.get(m.aggregate, m.aggregate)
        return f"{agg}：{src.title_zh}" + ("（按定义中的条件）" if m.filter else "")
    agg = {"count": "count", "sum": "sum", "persons": "persons (each once)"}.get(m.aggregate, m.aggregate)
    title = src.title.replace("`", "")
    return f"{agg} of: {title}" + (" (with the definition's condition)" if m.filter else "")


def describe(iid: str, locale: str, computed_at: str | None = None) -> dict[str, Any]:
    """What an indicator is and how it is computed, in words (`META_HEADERS`' order as `fields`)."""
    ind = catalogue()[iid]
    lang = "zh" if _zh(locale) else "en"
    low, high = ind.plausible
    values = [
        ind.id,
        ind.name[lang],
        ind.definition[lang],
        _measure(ind.numerator, locale),
        _measure(ind.denominator, locale),
        _word(ind.unit, locale) if ind.unit in WORDS else ind.unit,
        ind.target,
        f"{low:g}–{high:g}" if high else "",
        computed_at or "",
    ]
    names = [h[0] if lang == "zh" else h[1] for h in META_HEADERS]
    return {"values": values, "fields": list(zip(names, values, strict=True))}


def metadata_rows(indicators: list[str], locale: str, computed_at: str | None) -> list[list[Any]]:
    """One row per indicator: what it is and how it is computed (the Excel file's second sheet)."""
    return [describe(i, locale, computed_at)["values"] for i in indicators if i in catalogue()]


def write_xlsx(
    rows: list[dict[str, Any]], path: Path | Any, locale: str | None = None, computed_at: str | None = None
) -> None:
    """The results sheet and, for people (`locale`), a sheet describing each indicator in it."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    zh = locale is not None and _zh(locale)
    ws = wb.create_sheet("指标值" if zh else "indicators")
    ws.append(header(locale))
    for r in rows:
        ws.append(labelled(r, locale) if locale else [r[c] for c in COLUMNS])
    if locale is not None:
        meta = wb.create_sheet("指标说明" if zh else "definitions")
        meta.append([h[0] if zh else h[1] for h in META_HEADERS])
        for line in metadata_rows(sorted({r["indicator"] for r in rows}), locale, computed_at):
            meta.append(line)
    wb.save(path)

"""The catalogue's reference page (`docs/indicators.md`), generated from the catalogue so the
documentation cannot drift from the definitions (a test compares them)."""

from __future__ import annotations

from phip.analytics.catalogue import Measure, catalogue, sources

_AGG = {
    "count": "rows",
    "persons": "distinct persons",
    "facilities": "distinct facilities",
    "distinct": "distinct {expression}",
    "sum": "sum of {expression}",
}


def _measure(m: Measure) -> str:
    text = _AGG[m.aggregate].format(expression=f"`{m.expression}`")
    text = f"{text} of `{m.source}`"
    return f"{text} where `{m.filter}`" if m.filter else text


def markdown() -> str:
    lines = [
        "# Indicator catalogue",
        "",
        "Generated from `src/phip/analytics/data/indicators.yaml` and `sources.yaml` by",
        "`python -m phip.analytics.reference` (a test fails when this page is out of date).",
        "",
        "value = numerator / denominator × factor; an indicator without a denominator is a count.",
        "Levels are org units of the tree (province, prefecture, county, township) or single",
        "facilities; periods are days, ISO weeks, months, quarters and years. A facility-based",
        "measure counts at the facility that submitted the data and its org units; a",
        "residence-based one at the resident's township. Breakdowns: `facility_type` is the",
        "facility tier (hospital, primary = township and community centres, village = village",
        "clinics); `sex`, `age_group` (0, 1-6, 7-17, 18-44, 45-64, 65+: age at the event, or at the",
        "period's end for states), `ethnicity` (GB/T 3304 code) and `poverty` (registered poverty",
        "household) come from the person index's golden attributes in the lake's `person` table.",
        "Every output leaving the platform suppresses cells of indicators counting residents",
        "that rest on 1-4 records (counts of facilities, staff posts, beds and published",
        "population figures identify nobody and are shown), and then,",
        "in every published group (org units under their parent, categories under their total,",
        "days in months and weeks, months in quarters, quarters in years) that has one hidden",
        "cell, its smallest shown cell too, so no hidden cell is the difference of shown ones.",
        "",
        "Each indicator has a plausible range for a province (a count's is per 1,000 residents a",
        "year) with its basis; a share (%) never passes 100 unless its definition says why it may.",
        "Each cell carries the reports it rests on (`expected_reports`, `received_reports`: the",
        "batches its unit's connected facilities owed for the period's months) and `complete`",
        "(the period has ended and every owed batch came), judged on `PHIP_AS_OF` (default today).",
        "A test computes every indicator again from a synthetic province's submissions in plain",
        "Python and compares them cell by cell (`tests/analytics/test_truth.py`).",
        "",
    ]
    for ind in catalogue().values():
        lines += [
            f"## `{ind.id}`: {ind.name['zh']} / {ind.name['en']}",
            "",
            ind.definition["zh"],
            "",
            ind.definition["en"],
            "",
            f"- numerator: {_measure(ind.numerator)}",
        ]
        if ind.denominator is not None:
            lines.append(f"- denominator: {_measure(ind.denominator)}")
        lines += [
            f"- factor: {ind.factor:g}" + (f" ({ind.unit})" if ind.unit else ""),
            f"- levels: {', '.join(ind.levels)}",
            f"- periods: {', '.join(ind.periods)}",
            f"- breakdowns: {', '.join(ind.breakdowns) or 'none'}",
        ]
        if ind.target is not None:
            lines.append(f"- target: {ind.target:g}")
        lo, hi = ind.plausible
        per = " per 1,000 residents a year" if ind.per_resident else ""
        basis = ind.plausible_basis or {}
        lines.append(f"- plausible: {lo:g} to {hi:g}{per} ({basis.get('en', '')}; {basis.get('zh', '')})")
        if ind.exceeds_100:
            lines.append(f"- may exceed 100: {ind.exceeds_100['en']} {ind.exceeds_100['zh']}")
        if not ind.about_people:
            lines.append("- counts no residents: small cells are shown")
        lines.append("")
    lines += ["# Sources", ""]
    for src in sources().values():
        lines += [
            f"## `{src.name}`",
            "",
            f"{src.title} ({src.org}-based, {src.mode}{'' if src.people else ', not about residents'}).",
            "",
            "```sql",
            src.sql.rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(markdown(), end="")  # noqa: T201

"""The rule catalogue's reference page (`docs/quality-rules.md`), generated from the catalogue
so the documentation cannot drift from the rules (a test compares them)."""

from __future__ import annotations

from phip.quality.catalogue import DIMENSIONS, SEVERITIES, TIERS, catalogue


def markdown() -> str:
    cat = catalogue()
    lines = [
        "# Data-quality rules",
        "",
        "Generated from `src/phip/quality/data/rules.yaml` by `python -m phip.quality.reference`",
        "(a test fails when this page is out of date). Each rule is a query over the lake that gives",
        "the records failing it; `phip quality run` runs them all (DuckDB, or Spark with",
        "`--engine spark`: the same findings).",
        "",
        f"Catalogue version {cat.version}; monthly data are due by day {cat.deadline_day} of the next month.",
        "",
        "## Records refused at the door",
        "",
        "A record the door refused is reported with its reasons (the `quarantine` table). So that one",
        "resubmission fixes everything, it is also checked by the rules that can see it without the",
        "lake holding its values: `quarantine_record` keeps each refused record's content fingerprint,",
        "element count, an Encounter's visit key and a Patient's identity facts as pseudonyms; a",
        "refused Patient's person (`refused_person`) is found by its identity number's pseudonym or,",
        "when the number fails its check, by the one valid number a typo away that the lake's Patients",
        "carry. Refused Patients are compared with their person's prevailing values but do not vote.",
        "",
        "## Facility metrics (`phip quality metrics`)",
        "",
        "After the WHO Data Quality Review and DHIS2, per facility and year: reporting completeness",
        "and timeliness, the batch lag (`submission_lag_days`), the per-record lag from each record's",
        "clinical date to its sending (`record_lag_days`, `record_lag_days_p90`; the 90th percentile is",
        f"flagged beyond {31 + cat.deadline_day} days), indicator-data completeness, outliers in monthly",
        "visits (modified z-score, ±2 and ±3 SD), consistency over time and between related series.",
        "",
        "## Scores",
        "",
        "For each dimension, a facility's failing records are weighted by the rule's weight at the",
        "facility's tier and divided by the records of the rule's kind it submitted (weighted alike).",
        "The dimension's score is 100 × (1 − share ÷ tolerance), at least 0; the overall score is the",
        "weighted mean of the dimension scores. Units above facilities add up their facilities'",
        "weighted failures and records, so large facilities weigh more.",
        "",
        "| dimension | 维度 | weight | tolerance |",
        "|---|---|---|---|",
    ]
    for d, (zh, weight, tolerance) in DIMENSIONS.items():
        lines.append(f"| {d} | {zh} | {weight} | {tolerance:.0%} |")
    lines += ["", f"Severities: {', '.join(SEVERITIES)}. Tiers: {', '.join(TIERS)}.", ""]
    for d, (zh, _, _) in DIMENSIONS.items():
        lines += [f"## {zh} {d}", ""]
        for r in (r for r in cat.rules if r.dimension == d):
            weights = ", ".join(f"{t} {r.weight_at(t):g}" for t in TIERS)
            lines += [
                f"### `{r.id}`",
                "",
                f"**{r.title['zh']}** — {r.title['en']}",
                "",
                f"- severity: {r.severity}; record kind: {r.resource}; element: `{r.element}`",
                f"- weight by tier: {weights}",
            ]
            if r.detects:
                lines.append(f"- finds the synthetic defects: {', '.join(f'`{k}`' for k in r.detects)}")
            if r.personal:
                lines.append("- the value is masked in reports (personal element)")
            lines += [
                f"- fix (zh): {r.hint['zh']}",
                f"- fix (en): {r.hint['en']}",
                "",
                "```sql",
                f"-- from\n{r.source}\n-- failing where\n{r.where}",
                "```",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")  # noqa: T201

"""Facility-level data-quality metrics after the WHO Data Quality Review and DHIS2, per facility
and year (and month, where a month is flagged), from the lake:

- `reporting_completeness`: monthly batches received ÷ expected (the months of the year from the
  facility's connection, up to the province's last data month); flagged below 90 %;
- `reporting_timeliness`: batches received by the deadline ÷ expected; flagged below 80 %;
- `submission_lag_days`: median days from the end of the data month to the batch's arrival;
- `record_lag_days`, `record_lag_days_p90`: median and 90th percentile of the days from each
  record's own clinical date to its sending (counted at import, births not counted); the 90th
  percentile is flagged beyond 31 + the deadline day: more than one record in ten certainly
  arrived after its month's reporting deadline;
- `indicator_completeness`: months with outpatient visits ÷ months reported; flagged below 90 %;
- `outliers_modified_z`, `outliers_2sd`, `outliers_3sd`: months whose outpatient visits lie beyond
  a modified z-score of 3.5 (0.6745·(x − median)/MAD) or 2 / 3 standard deviations from the mean;
  flagged when any (3.5 / 3 SD) month;
- `consistency_over_time`: months whose visits differ from the mean of the three months before by
  more than 33 % (each such month a flagged row);
- `consistency_prescriptions_per_visit`, `consistency_followups_per_registered`: the facility's
  ratio of related series (prescriptions ÷ outpatient visits; chronic follow-up visits ÷ registered
  chronic patients) against the median ratio of facilities of its tier; flagged beyond ±33 %.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from phip.lake.reader import open_duckdb

COMPLETENESS_MIN = 0.9
TIMELINESS_MIN = 0.8
MODIFIED_Z = 3.5
CONSISTENCY_BAND = 0.33

METRICS = (
    "reporting_completeness",
    "reporting_timeliness",
    "submission_lag_days",
    "record_lag_days",
    "record_lag_days_p90",
    "indicator_completeness",
    "outliers_modified_z",
    "outliers_2sd",
    "outliers_3sd",
    "consistency_over_time",
    "consistency_prescriptions_per_visit",
    "consistency_followups_per_registered",
)

#: each metric's name and threshold in words (zh, en), and how its value reads: a share, days or
#: a count of months
INFO: dict[str, tuple[str, str, str, str, str]] = {
    "reporting_completeness": (
        "上报完整性",
        "Reporting completeness",
        f"低于{COMPLETENESS_MIN:.0%}",
        f"below {COMPLETENESS_MIN:.0%}",
        "share",
    ),
    "reporting_timeliness": (
        "上报及时性",
        "Reporting timeliness",
        f"低于{TIMELINESS_MIN:.0%}",
        f"below {TIMELINESS_MIN:.0%}",
        "share",
    ),
    "submission_lag_days": (
        "批次上报滞后（中位天数）",
        "Batch lag (median days)",
        "超过截止日",
        "after the deadline day",
        "days",
    ),
    "record_lag_days": (
        "记录上报滞后（中位天数）",
        "Record lag (median days)",
        "不标记",
        "not flagged",
        "days",
    ),
    "record_lag_days_p90": (
        "记录上报滞后（第90百分位天数）",
        "Record lag (90th percentile days)",
        "超过31天加截止日",
        "beyond 31 days plus the deadline day",
        "days",
    ),
    "indicator_completeness": (
        "门诊数据完整性（有门诊的月份占比）",
        "Indicator completeness (months with outpatient visits)",
        f"低于{COMPLETENESS_MIN:.0%}",
        f"below {COMPLETENESS_MIN:.0%}",
        "share",
    ),
    "outliers_modified_z": (
        "极端值月份（修正Z分数）",
        "Outlier months (modified z-score)",
        f"任一月份|Z|超过{MODIFIED_Z}",
        f"any month beyond |z| {MODIFIED_Z}",
        "months",
    ),
    "outliers_2sd": ("偏离均值2个标准差的月份", "Months beyond 2 SD", "不标记", "not flagged", "months"),
    "outliers_3sd": ("偏离均值3个标准差的月份", "Months beyond 3 SD", "任一月份", "any month", "months"),
    "consistency_over_time": (
        "时间一致性（与前3个月均值相差的月份）",
        "Consistency over time (months off the mean of the 3 before)",
        f"相差超过{CONSISTENCY_BAND:.0%}",
        f"off by more than {CONSISTENCY_BAND:.0%}",
        "months",
    ),
    "consistency_prescriptions_per_visit": (
        "处方数/门诊人次（与同级机构中位数比较）",
        "Prescriptions per visit (against the tier's median)",
        f"偏离超过{CONSISTENCY_BAND:.0%}",
        f"off by more than {CONSISTENCY_BAND:.0%}",
        "ratio",
    ),
    "consistency_followups_per_registered": (
        "随访人次/在管患者（与同级机构中位数比较）",
        "Follow-ups per registered patient (against the tier's median)",
        f"偏离超过{CONSISTENCY_BAND:.0%}",
        f"off by more than {CONSISTENCY_BAND:.0%}",
        "ratio",
    ),
}

SCHEMA = pa.schema(
    [
        ("facility", pa.string()),
        ("period", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("numerator", pa.float64()),
        ("denominator", pa.float64()),
        ("flagged", pa.bool_()),
    ]
)

_BATCHES = """
SELECT b.facility, b.month, min(b.first_sent) AS first_sent, f.tier, f.connected_since
FROM submission_batch b JOIN facility f ON f.code = b.facility
WHERE b.first_sent IS NOT NULL
GROUP BY b.facility, b.month, f.tier, f.connected_since
"""
_RECORD_LAGS = """
SELECT facility, year, days, sum(records) AS n FROM submission_lag
WHERE year IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
_VISITS = """
SELECT source_facility AS facility, month, count(*) AS n FROM encounter
WHERE class = 'AMB' AND encounter_type = 'outpatient' AND month <> 'none'
GROUP BY 1, 2
"""
_PRESCRIPTIONS = """
SELECT source_facility AS facility, substr(month, 1, 4) AS year, count(*) AS n FROM medication_request
WHERE month <> 'none' GROUP BY 1, 2
"""
_FOLLOWUPS = """
SELECT source_facility AS facility, substr(month, 1, 4) AS year, count(*) AS n FROM encounter
WHERE encounter_type LIKE 'followup-%' AND month <> 'none' GROUP BY 1, 2
"""
_REGISTERED = """
SELECT source_facility AS facility, count(DISTINCT patient_key) AS n FROM episode_of_care
WHERE status = 'active' GROUP BY 1
"""


def _next_deadline(month: str, day: int) -> str:
    y, m = int(month[:4]), int(month[5:7])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return f"{y:04d}-{m:02d}-{day:02d}"


def _days_after_month(month: str, sent: str) -> float:
    from datetime import date

    y, m = int(month[:4]), int(month[5:7])
    end = date(y + (m == 12), 1 if m == 12 else m + 1, 1)
    return float((date.fromisoformat(sent[:10]) - end).days + 1)


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _quantile(histogram: list[tuple[int, int]], q: float) -> float:
    """The smallest value with at least `q` of the counts at or below it ((value, count) pairs in
    ascending order of value)."""
    total = sum(n for _, n in histogram)
    acc = 0
    for value, n in histogram:
        acc += n
        if acc >= q * total:
            return float(value)
    return float(histogram[-1][0])


def _modified_z(values: list[float]) -> list[float | None]:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    return [None if mad == 0 else 0.6745 * (v - med) / mad for v in values]


def compute(lake: Path, deadline_day: int = 10) -> pa.Table:
    """Every metric for every facility that submitted, per year of data."""
    con, _ = open_duckdb(lake)
    batches = con.sql(_BATCHES).fetchall()
    visits = con.sql(_VISITS).fetchall()
    prescriptions = {(f, y): n for f, y, n in con.sql(_PRESCRIPTIONS).fetchall()}
    followups = {(f, y): n for f, y, n in con.sql(_FOLLOWUPS).fetchall()}
    registered = dict(con.sql(_REGISTERED).fetchall())
    record_lags: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for fac, year, days, n in con.sql(_RECORD_LAGS).fetchall():
        record_lags[(fac, year)].append((int(days), int(n)))
    con.close()
    rows: list[dict[str, Any]] = []

    def add(
        fac: str,
        period: str,
        metric: str,
        value: float | None,
        num: float | None,
        den: float | None,
        flag: bool,
    ) -> None:
        rows.append(
            {
                "facility": fac,
                "period": period,
                "metric": metric,
                "value": value,
                "numerator": num,
                "denominator": den,
                "flagged": flag,
            }
        )

    if not batches:
        return pa.Table.from_pylist(rows, schema=SCHEMA)
    last_month = max(b[1] for b in batches)
    by_fac: dict[str, dict[str, str]] = defaultdict(dict)
    tier: dict[str, str | None] = {}
    since: dict[str, str | None] = {}
    for fac, month, sent, t, connected in batches:
        by_fac[fac][month] = sent
        tier[fac], since[fac] = t, connected
    years = sorted({m[:4] for months in by_fac.values() for m in months if m <= last_month})
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for fac, month, n in visits:
        counts[fac][month] = int(n)
    ratios: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)  # (metric, year) → fac → ratio
    for fac, got in sorted(by_fac.items()):
        for year in years:
            received = {m: s for m, s in got.items() if m[:4] == year}
            if not received:
                continue
            start = max(f"{year}-01", (since[fac] or "0000-00")[:7])
            expected = _months(start, min(f"{year}-12", last_month))
            if not expected:
                continue
            on_time = [
                m for m in expected if m in received and received[m][:10] <= _next_deadline(m, deadline_day)
            ]
            have = [m for m in expected if m in received]
            add(
                fac,
                year,
                "reporting_completeness",
                len(have) / len(expected),
                len(have),
                len(expected),
                len(have) / len(expected) < COMPLETENESS_MIN,
            )
            add(
                fac,
                year,
                "reporting_timeliness",
                len(on_time) / len(expected),
                len(on_time),
                len(expected),
                len(on_time) / len(expected) < TIMELINESS_MIN,
            )
            lags = [_days_after_month(m, received[m]) for m in have]
            add(
                fac,
                year,
                "submission_lag_days",
                statistics.median(lags),
                None,
                None,
                statistics.median(lags) > deadline_day,
            )
            if record_lags.get((fac, year)):
                histogram = record_lags[(fac, year)]
                total = sum(n for _, n in histogram)
                p90 = _quantile(histogram, 0.9)
                add(fac, year, "record_lag_days", _quantile(histogram, 0.5), None, float(total), False)
                add(fac, year, "record_lag_days_p90", p90, None, float(total), p90 > 31 + deadline_day)
            series = [(m, counts[fac].get(m, 0)) for m in have]
            nonzero = sum(1 for _, n in series if n > 0)
            add(
                fac,
                year,
                "indicator_completeness",
                nonzero / len(series),
                nonzero,
                len(series),
                nonzero / len(series) < COMPLETENESS_MIN,
            )
            _outliers(add, fac, year, [(m, float(n)) for m, n in series if n > 0])
            visits_year = sum(n for _, n in series)
            if visits_year:
                p = prescriptions.get((fac, year), 0)
                ratios[("consistency_prescriptions_per_visit", year)][fac] = p / visits_year
            if registered.get(fac):
                f_n = followups.get((fac, year), 0)
                ratios[("consistency_followups_per_registered", year)][fac] = f_n / registered[fac]
    for (metric, year), per_fac in ratios.items():
        by_tier: dict[str | None, list[float]] = defaultdict(list)
        for fac, r in per_fac.items():
            by_tier[tier[fac]].append(r)
        for fac, r in per_fac.items():
            ref = statistics.median(by_tier[tier[fac]])
            flag = ref > 0 and abs(r / ref - 1) > CONSISTENCY_BAND
            add(fac, year, metric, r, r, ref, flag)
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _outliers(add: Any, fac: str, year: str, series: list[tuple[str, float]]) -> None:
    if len(series) < 6:
        return
    values = [v for _, v in series]
    mean, sd = statistics.fmean(values), statistics.pstdev(values)
    z = _modified_z(values)
    mz = [m for (m, _), s in zip(series, z, strict=True) if s is not None and abs(s) > MODIFIED_Z]
    sd2 = [m for m, v in series if sd > 0 and abs(v - mean) > 2 * sd]
    sd3 = [m for m, v in series if sd > 0 and abs(v - mean) > 3 * sd]
    add(fac, year, "outliers_modified_z", float(len(mz)), len(mz), len(values), bool(mz))
    add(fac, year, "outliers_2sd", float(len(sd2)), len(sd2), len(values), False)
    add(fac, year, "outliers_3sd", float(len(sd3)), len(sd3), len(values), bool(sd3))
    flagged = 0
    for i in range(3, len(series)):
        prior = statistics.fmean(v for _, v in series[i - 3 : i])
        ratio = series[i][1] / prior if prior else None
        if ratio is not None and abs(ratio - 1) > CONSISTENCY_BAND:
            flagged += 1
            add(fac, series[i][0], "consistency_over_time", ratio, series[i][1], prior, True)
    add(fac, year, "consistency_over_time", float(flagged), flagged, len(series) - 3, flagged > 0)


def read(
    lake: Path, facilities: Iterable[str] | None = None, flagged_only: bool = False
) -> list[dict[str, Any]]:
    """The metrics the last quality round attached to the lake (only `facilities`, when given)."""
    con, manifest = open_duckdb(lake)
    try:
        if "quality_facility_metric" not in manifest.tables:
            return []
        rows = con.sql(
            "SELECT * FROM quality_facility_metric ORDER BY facility, period, metric"
        ).to_arrow_table()
    finally:
        con.close()
    out = rows.to_pylist()
    if facilities is not None:
        wanted = set(facilities)
        out = [r for r in out if r["facility"] in wanted]
    return [r for r in out if r["flagged"]] if flagged_only else out

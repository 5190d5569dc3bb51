"""Reporting completeness and timeliness (DHIS2's reporting rates) against the synthetic
province's truth: every facility-month batch owed, and whether it came, on time or late."""

from __future__ import annotations

import csv
import json
from datetime import date

import duckdb
import pyarrow.parquet as pq
import pytest

from phip.analytics import reporting
from phip.lake.manifest import require_manifest
from tests.conftest import LakeStore

AS_OF = date(2026, 1, 20)  # the test province's data is 2025: its December batch was due on 10 January


@pytest.mark.parametrize(
    ("as_of", "last"),
    [(date(2026, 1, 20), "2025-12"), (date(2026, 1, 10), "2025-11"), (date(2026, 3, 1), "2026-01")],
)
def test_a_month_is_owed_once_its_deadline_has_passed(as_of: date, last: str) -> None:
    assert reporting.due_through(as_of) == last


def test_owed_batches_are_the_truths(lake_store: LakeStore) -> None:
    manifest = require_manifest(lake_store.lake)
    con = duckdb.connect()
    reporting.facility_months(con, lake_store.lake, manifest, AS_OF)
    got = {(f, m): bool(r) for f, m, r in con.execute("SELECT code, month, received FROM owed").fetchall()}
    with open(lake_store.province / "truth" / "expected_batches.csv", encoding="utf-8") as f:
        truth = {(r["facility"], r["month"]): r["received"] == "1" for r in csv.DictReader(f)}
    assert got == truth
    assert not all(truth.values()), "the province has facilities that went silent"
    # on time: received by day 10 of the next month, as the truth's submission times say
    with open(lake_store.province / "truth" / "submissions.csv", encoding="utf-8") as f:
        late = {(r["facility"], r["month"]) for r in csv.DictReader(f) if r["late"] == "1"}
    on_time = {(f, m): bool(t) for f, m, t in con.execute("SELECT code, month, on_time FROM owed").fetchall()}
    assert late and all(not on_time[k] for k in late if k in on_time)
    assert all(on_time[k] for k, received in truth.items() if received and k not in late)


def test_rates_add_up_per_unit_and_period(lake_store: LakeStore) -> None:
    manifest = require_manifest(lake_store.lake)
    table = reporting.rates(lake_store.lake, manifest, AS_OF).to_pylist()
    with open(lake_store.province / "truth" / "expected_batches.csv", encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    province = {(r["period_type"], r["period"]): r for r in table if r["level"] == "province"}
    year = province[("year", "2025")]
    assert year["expected"] == len(truth)
    assert year["received"] == sum(r["received"] == "1" for r in truth)
    assert 0 < year["on_time"] < year["received"] <= year["expected"]
    months = [r for (t, _p), r in province.items() if t == "month"]
    assert sum(r["expected"] for r in months) == year["expected"]
    prefectures = [r for r in table if r["level"] == "prefecture" and r["period"] == "2025"]
    assert sum(r["expected"] for r in prefectures) == year["expected"]


def test_result_cells_say_whether_their_reports_are_complete(lake_store: LakeStore) -> None:
    meta = json.loads((lake_store.lake / "indicators" / "current.json").read_text(encoding="utf-8"))
    table = pq.read_table(lake_store.lake / "indicators" / meta["file"])
    manifest = require_manifest(lake_store.lake)
    rows = reporting.annotate(table, lake_store.lake, manifest, AS_OF).to_pylist()
    assert len(rows) == table.num_rows
    by = {
        (r["indicator"], r["level"], r["org_unit"], r["period_type"], r["period"], r["breakdown"]): r
        for r in rows
    }
    year = by[("outpatient_visits", "province", "620000", "year", "2025", "")]
    assert year["period_ended"] and year["expected_reports"] > year["received_reports"] > 0
    assert year["complete"] is False  # some facility went silent in 2025
    january = by[("outpatient_visits", "province", "620000", "month", "2025-01", "")]
    assert january["expected_reports"] == january["received_reports"] and january["complete"] is True
    # a period still running on the judging day, or whose last month is not yet due, is never
    # complete (2026-01-05 has ended, but January's batches are due on 10 February)
    running = [r for r in rows if r["period"] in ("2026", "2026Q1", "2026-01", "2026-01-05")]
    assert running and not any(r["complete"] for r in running)
    # a day takes its month's reports
    day = next(
        r
        for r in rows
        if r["period_type"] == "day" and r["period"] == "2025-01-15" and r["level"] == "province"
    )
    assert day["expected_reports"] == january["expected_reports"]


@pytest.mark.parametrize(
    ("periods", "period_type", "as_of", "expected"),
    [
        (
            ["2026Q1", "2025Q4", "2025Q3"],
            "quarter",
            date(2026, 2, 1),
            "2025Q4",
        ),  # the running quarter is skipped
        (["2026Q1", "2025Q4"], "quarter", date(2026, 4, 1), "2026Q1"),
        (["2025-12", "2025-11"], "month", date(2025, 12, 31), "2025-11"),  # its last day is not over
        (["2025-12", "2025-11"], "month", date(2026, 1, 1), "2025-12"),
        (["2026"], "year", date(2026, 6, 1), "2026"),  # none has ended: the latest
        ([], "year", date(2026, 6, 1), None),
    ],
)
def test_pages_open_on_the_last_period_that_has_ended(
    periods: list[str], period_type: str, as_of: date, expected: str | None
) -> None:
    from phip.analytics import relative

    assert relative.default(periods, period_type, as_of) == expected

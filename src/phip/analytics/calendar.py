"""Periods: every day of the covered years with the day, ISO week, month, quarter and year it
falls in (one row per day and period type), so an event finds its periods by an equi-join on its
day, and a state or span finds them by their first and last days."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa

from phip.analytics.catalogue import PERIODS


def _period(day: date, kind: str) -> tuple[str, date, date]:
    if kind == "day":
        return day.isoformat(), day, day
    if kind == "week":
        iso = day.isocalendar()
        start = day - timedelta(days=iso.weekday - 1)
        return f"{iso.year}-W{iso.week:02d}", start, start + timedelta(days=6)
    if kind == "month":
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return f"{day.year}-{day.month:02d}", start, nxt - timedelta(days=1)
    if kind == "quarter":
        q = (day.month - 1) // 3
        start = date(day.year, 3 * q + 1, 1)
        end = date(day.year + 1, 1, 1) if q == 3 else date(day.year, 3 * q + 4, 1)
        return f"{day.year}Q{q + 1}", start, end - timedelta(days=1)
    return str(day.year), date(day.year, 1, 1), date(day.year, 12, 31)


def calendar(first_year: int, last_year: int) -> pa.Table:
    """day, period_type, period, period_start, period_end, period_days for every day of the years."""
    cols: dict[str, list[object]] = {
        k: [] for k in ("day", "period_type", "period", "period_start", "period_end")
    }
    day = date(first_year, 1, 1)
    while day.year <= last_year:
        for kind in PERIODS:
            label, start, end = _period(day, kind)
            cols["day"].append(day)
            cols["period_type"].append(kind)
            cols["period"].append(label)
            cols["period_start"].append(start)
            cols["period_end"].append(end)
        day += timedelta(days=1)
    days = [(e - s).days + 1 for s, e in zip(cols["period_start"], cols["period_end"], strict=True)]  # type: ignore[operator]
    return pa.table({**cols, "period_days": pa.array(days, pa.int64())})


def calendar_periods(cal: pa.Table) -> pa.Table:
    """Each period of a calendar once: period_type, period, period_start, period_end, period_days."""
    keys = ["period_type", "period", "period_start", "period_end", "period_days"]
    return cal.group_by(keys).aggregate([]).select(keys)

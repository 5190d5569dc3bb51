"""Relative periods, as statisticians choose them (DHIS2's "last month", "last quarter"...): the
periods of a type that have ended by the judging day (`PHIP_AS_OF`, else today), latest first, so a
page opens on the last complete period rather than the running one (whose follow-ups, say, are
not due yet and would read as zero)."""

from __future__ import annotations

from datetime import date

from phip.analytics.reporting import period_end


def ended(period_type: str, period: str, as_of: date) -> bool:
    end = period_end(period_type, period)
    return end is not None and end < as_of


def default(periods: list[str], period_type: str, as_of: date) -> str | None:
    """Of `periods` (latest first), the latest that has ended by `as_of`; the latest when none
    has; None when there are none."""
    return next((p for p in periods if ended(period_type, p, as_of)), periods[0] if periods else None)

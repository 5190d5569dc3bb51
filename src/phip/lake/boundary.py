"""FHIRPath `lowBoundary()` / `highBoundary()` of partial dates and times, as SQL text functions
(the same text in every engine but for the last day of a month, which the dialect gives)."""

from __future__ import annotations

from phip.engines.dialects import Dialect


def complete_time(text: str, pad: tuple[str, str, str]) -> str:
    """hh[:mm[:ss[.fff]]] completed with `pad` (minutes, seconds, milliseconds); a zone kept."""
    body = f"regexp_extract({text}, '^([0-9:.]*)', 1)"
    zone = f"substr({text}, length({body}) + 1)"
    hh = f"substr({body}, 1, 2)"
    mm = f"coalesce(nullif(substr({body}, 4, 2), ''), '{pad[0]}')"
    ss = f"coalesce(nullif(substr({body}, 7, 2), ''), '{pad[1]}')"
    frac = f"rpad(coalesce(nullif(substr({body}, 10), ''), '{pad[2]}'), 3, '{pad[2][-1]}')"
    whole = f"{'23' if pad[0] == '59' else '00'}:{pad[0]}:{pad[1]}.{pad[2]}"
    return (
        f"(CASE WHEN {text} IS NULL THEN NULL WHEN {text} = '' THEN '{whole}' "
        f"ELSE {hh} || ':' || {mm} || ':' || {ss} || '.' || {frac} || {zone} END)"
    )


def complete_date(d: Dialect, text: str, low: bool) -> str:
    """YYYY[-MM[-DD]] completed to the first (low) or last day it can mean."""
    year, month = f"substr({text}, 1, 4)", f"substr({text}, 6, 2)"
    if low:
        return (
            f"(CASE WHEN length({text}) = 4 THEN {year} || '-01-01' "
            f"WHEN length({text}) = 7 THEN {text} || '-01' ELSE substr({text}, 1, 10) END)"
        )
    last = d.last_day(f"{year} || '-' || {month} || '-01'")
    return (
        f"(CASE WHEN length({text}) = 4 THEN {year} || '-12-31' "
        f"WHEN length({text}) = 7 THEN {last} ELSE substr({text}, 1, 10) END)"
    )

"""Outliers among units on aggregated values: the modified z-score (Iglewicz and Hoaglin)."""

from __future__ import annotations

from phip.analytics.outliers import modified_z, unit_outliers


def _row(indicator: str, unit: str, value: float | None, suppressed: bool = False) -> dict[str, object]:
    return {"indicator": indicator, "org_unit": unit, "value": value, "suppressed": suppressed}


def test_modified_z_by_hand() -> None:
    # median 3, absolute deviations 2,1,0,1,97 → MAD 1; 100 lies 0.6745 · 97 / 1 from it
    z = modified_z([1.0, 2.0, 3.0, 4.0, 100.0])
    assert z[2] == 0 and abs(z[4] - 0.6745 * 97) < 1e-9 and abs(z[0] + 0.6745 * 2) < 1e-9
    assert modified_z([5.0, 5.0, 5.0, 5.0, 9.0]) == [None] * 5  # MAD 0 judges nothing


def test_unit_outliers_leave_out_hidden_cells_and_small_groups() -> None:
    rows = [_row("a", f"u{i}", v) for i, v in enumerate([10, 11, 12, 9, 10, 11, 60])]
    rows += [_row("a", "hidden", 500.0, suppressed=True), _row("a", "none", None)]
    rows += [_row("b", f"u{i}", v) for i, v in enumerate([1, 1, 2, 90])]  # four units: not judged
    found = unit_outliers(rows)
    assert [(r["indicator"], r["org_unit"]) for r in found] == [("a", "u6")]
    assert found[0]["units"] == 7 and found[0]["median"] == 11 and found[0]["z"] > 3.5
    low = unit_outliers([_row("c", f"u{i}", v) for i, v in enumerate([50, 52, 49, 51, 50, 2])])
    assert [r["org_unit"] for r in low] == ["u5"] and low[0]["z"] < -3.5

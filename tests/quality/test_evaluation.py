"""What `phip quality evaluate` measures against: the synthetic province's truth holds every
defect its data carries (nothing implausible left unrecorded, no defect spread to copies), and
the rules reach their recall and precision on a province the other tests do not use."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from phip.synth import defects
from phip.synth.config import SynthConfig


class _Out:
    def __init__(self, resources: list[tuple[str, dict[str, Any]]]) -> None:
        self.resources = resources
        self.defects: list[tuple[str, str, str]] = []


def _bp(rid: str, sbp: float, dbp: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "component": [{"valueQuantity": {"value": sbp}}, {"valueQuantity": {"value": dbp}}],
    }


def _no_injection() -> SynthConfig:
    zero = {k: 0.0 for k in defects.KINDS_BY_TYPE}
    return SynthConfig().with_overrides({"defects": zero})


@pytest.mark.parametrize(
    ("sbp", "dbp", "recorded"),
    [(120, 80, False), (102, 107, True), (90, 90, True), (300, 120, False)],
)
def test_a_blood_pressure_drawn_implausible_is_recorded(sbp: float, dbp: float, recorded: bool) -> None:
    out = _Out([("F", _bp("o1", sbp, dbp))])
    defects.inject(random.Random(1), _no_injection(), out, lambda p: f"{p}-new")
    assert [(r, k) for r, k, _ in out.defects] == (
        [("Observation/o1", "impossible_value")] if recorded else []
    )


def test_a_defect_injected_into_a_visit_does_not_spread_to_its_copies() -> None:
    original = {
        "resourceType": "Encounter",
        "id": "e1",
        "period": {"start": "2025-03-01T09:00:00+08:00", "end": "2025-03-01T09:20:00+08:00"},
    }
    copies = [dict(original, id=f"e{i}") for i in (2, 3)]  # keyed in again: a shallow copy
    before = copy.deepcopy(copies)
    detail = defects._apply("structural_invalid", random.Random(1), original, {}, str, [], "F")
    assert detail == "period.start not a date" and original["period"]["start"].startswith("2025-13")
    assert copies == before


@pytest.mark.parametrize(
    ("kind", "made_with", "kept"),
    [
        ("missing_required", ["homophone", "phone_changed"], ["phone_changed", "missing_required"]),
        ("impossible_value", ["birth_day_month_swap", "dropped_char"], ["dropped_char", "impossible_value"]),
        ("invalid_code", ["birth_day_month_swap"], ["birth_day_month_swap", "invalid_code"]),
    ],
)
def test_the_truth_forgets_a_defect_whose_element_another_removed(
    kind: str, made_with: list[str], kept: list[str]
) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"text": "x"}],
        "birthDate": "1980-03-05",
        "extension": [{"url": defects.cs.EXT_ETHNICITY, "valueCoding": {"code": "01"}}],
    }
    out = _Out([("F", patient)])
    out.defects = [("Patient/p1", k, "") for k in made_with]
    zero = {k: 0.0 for k in defects.KINDS_BY_TYPE}
    cfg = SynthConfig().with_overrides({"defects": {**zero, kind: 1.0}})
    defects.inject(random.Random(1), cfg, out, str)
    assert [k for _, k, _ in out.defects] == kept

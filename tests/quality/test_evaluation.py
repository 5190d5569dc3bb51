"""What `phip quality evaluate` measures against: the synthetic province's truth holds every
defect its data carries (nothing implausible left unrecorded, no defect spread to copies), and
the rules reach their recall and precision on a province the other tests do not use."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
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


@pytest.mark.slow
def test_the_rules_hold_on_a_province_the_other_tests_do_not_use(tmp_path: Path) -> None:
    """The whole pipeline on another seed (the shared province is seed 7): synthesize, load the
    registry, ingest, link the store, build the lake, evaluate. `scripts/quality-matrix.py` runs
    the same over five seeds and three scales (docs/benchmarks.md)."""
    from sqlalchemy.orm import Session

    from phip.exchange.ingest import ingest
    from phip.identity.store_link import link_store
    from phip.lake.service import refresh_from_store
    from phip.orgunits import OrgUnitService
    from phip.quality.evaluate import evaluate, read_truth, refused_records
    from phip.quality.run import run_rules
    from phip.standards.divisions import get_divisions
    from phip.store import get_engine, init_db
    from phip.synth import synthesize

    province = tmp_path / "province"
    synthesize(SynthConfig(scale=0.0001, seed=11), province, workers=2)
    engine = get_engine(f"sqlite:///{(tmp_path / 'phip.db').as_posix()}")
    init_db(engine)
    lake = tmp_path / "lake"
    with Session(engine) as s:
        OrgUnitService(s).load_registry(province / "registry", get_divisions("620000"))
        s.commit()
        ingest(s, province / "submissions", None, workers=2)
        link_store(s, tmp_path)
        s.commit()
        refresh_from_store(s, lake)
    run = run_rules(lake)
    assert run.warnings == []  # every Patient linked
    report = evaluate(run.findings, read_truth(province / "truth"), refused=refused_records(lake))
    overall = report["overall"]
    print("quality evaluate, seed 11:", json.dumps(overall))
    assert overall["recall"] >= 0.99 and overall["precision"] >= 0.99, overall


def test_a_second_registration_carries_the_defects_it_copied() -> None:
    first = {"resourceType": "Patient", "id": "p1", "name": [{"text": "Zhang San"}]}
    again = {**first, "id": "p2"}  # the same record under a new MRN
    renamed = {**first, "id": "p3", "name": [{"text": "x"}]}  # and one keyed with another name
    out = _Out([("F", first), ("F", again), ("F", renamed)])
    out.defects = [
        ("Patient/p1", "id_typo", "position 3"),
        ("Patient/p1", "pinyin_name", "x->Zhang San"),
        ("Patient/p1", "phone_changed", ""),  # checked only across facilities: not the copy's
        ("Patient/p2", "duplicate_patient", "second record of Patient/p1"),
        ("Patient/p3", "duplicate_patient", "second record of Patient/p1"),
    ]
    defects.inject(random.Random(1), _no_injection(), out, str)
    kinds = {(r, k) for r, k, _ in out.defects}
    assert {("Patient/p2", "id_typo"), ("Patient/p2", "pinyin_name"), ("Patient/p3", "id_typo")} <= kinds
    assert ("Patient/p3", "pinyin_name") not in kinds and ("Patient/p2", "phone_changed") not in kinds

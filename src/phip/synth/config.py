"""Configuration of a synthetic province: scale, seed, period, behaviour and defect rates.

Every field can be overridden with `phip synth --config FILE.json` ({"defects": {"id_typo": 0.05}}).
Rates are per eligible record unless stated.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

#: Facility counts of the reference province at scale 1.0 (public hospitals, township and
#: community centres, village clinics) and the share connected to the provincial platform.
FULL_FACILITY_COUNTS = {"hospital": 267, "primary": 1768, "village": 15451}
CONNECTION_RATES = {"hospital": 0.93, "primary": 0.89, "village": 0.96}
REFERRAL_COVERAGE = 0.75


@dataclass(frozen=True)
class DefectRates:
    """Injected defects (each recorded in truth/defects.csv)."""

    # identity corruptions on a Patient record at a second and further facility
    homophone: float = 0.04
    dropped_char: float = 0.02
    pinyin_name: float = 0.01
    id_typo: float = 0.02
    id_swap: float = 0.01
    id_legacy15: float = 0.03  # of residents born before 1985
    id_missing_village: float = 0.30  # of records at village clinics
    id_missing_other: float = 0.02
    birth_day_month_swap: float = 0.01
    phone_changed: float = 0.10
    # a record at a further facility made after the resident moved within the county, without an
    # identity number, with a new phone: off by default (the demo turns it on for its review queue)
    moved_unidentified: float = 0.0
    # content defects
    invalid_code: float = 0.003
    impossible_value: float = 0.003
    sex_inconsistent_dx: float = 0.001
    encounter_after_death: float = 0.05  # of deceased residents with any activity
    missing_required: float = 0.004
    structural_invalid: float = 0.0005  # record that is not valid FHIR (a bad date)
    duplicate_record: float = 0.002
    duplicate_patient: float = 0.005  # a resident registered twice at the same facility
    late_batch: float = 0.08  # facility-month batches submitted after the deadline
    outlier_month: float = 0.01  # facility-months with an implausible spike in visits
    silent_facility: float = 0.06  # connected facilities sending nothing for their last 1-3 months


@dataclass(frozen=True)
class SynthConfig:
    scale: float = 0.001
    seed: int = 42
    period_start: date = date(2025, 1, 1)
    period_end: date = date(2025, 12, 31)
    province: str = "620000"
    #: Residents per generation chunk (bounds memory).
    chunk_size: int = 4000
    # behaviour
    outpatient_visits_per_year: float = 4.5
    inpatient_admissions_per_year: float = 0.18
    emergency_visits_per_year: float = 0.08
    hypertension_prevalence_adult: float = 0.25
    diabetes_prevalence_adult: float = 0.10
    chronic_registered_share: float = 0.70
    family_doctor_share: float = 0.45
    family_doctor_renewal: float = 0.9  # contracts signed again when their year ends
    poverty_household_share_rural: float = 0.18
    ehealth_card_share: float = 0.70
    appointment_share_hospital: float = 0.35
    eprescription_share: float = 0.12
    up_referral_share: float = 0.03
    down_referral_share: float = 0.10
    annual_death_rate: float = 0.0083
    birth_rate: float = 0.0097
    twin_share_of_births: float = 0.012
    # submission timing
    submission_deadline_day: int = 10
    defects: DefectRates = field(default_factory=DefectRates)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["period_start"] = self.period_start.isoformat()
        d["period_end"] = self.period_end.isoformat()
        return d

    def with_overrides(self, overrides: dict[str, Any]) -> SynthConfig:
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise ValueError(f"unknown synth setting {key!r}")
            if key == "defects":
                dknown = {f.name for f in fields(DefectRates)}
                bad = set(value) - dknown
                if bad:
                    raise ValueError(f"unknown defect kinds: {', '.join(sorted(bad))}")
                changes[key] = replace(self.defects, **value)
            elif key in ("period_start", "period_end"):
                changes[key] = date.fromisoformat(value)
            else:
                changes[key] = value
        cfg = replace(self, **changes)
        if cfg.period_end < cfg.period_start:
            raise ValueError("period_end is before period_start")
        if not 0 < cfg.scale <= 1.0:
            raise ValueError("scale must be in (0, 1]")
        return cfg

    @classmethod
    def from_file(cls, path: Path, **base: Any) -> SynthConfig:
        return cls(**base).with_overrides(json.loads(path.read_text(encoding="utf-8")))

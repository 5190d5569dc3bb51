"""Everything a chunk needs to know about the province, built once per run (and once per worker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from phip.standards.divisions import Divisions, get_divisions
from phip.standards.statistics import census
from phip.synth.config import SynthConfig
from phip.synth.demography import AgeSexModel, age_sex_model, ethnic_mix
from phip.synth.plan import FacilityPlan, Village, full_plan, scaled_plan
from phip.synth.services import BatchTiming, ServiceMap


@dataclass
class ProvinceContext:
    cfg: SynthConfig
    divisions: Divisions
    plan: FacilityPlan
    _mix: dict[str, tuple[list[str], list[float]]] = field(default_factory=dict)

    @classmethod
    def build(cls, cfg: SynthConfig) -> ProvinceContext:
        divisions = get_divisions(cfg.province)
        return cls(cfg, divisions, scaled_plan(full_plan(divisions), cfg.scale))

    @cached_property
    def villages(self) -> dict[str, Village]:
        return {v.code: v for v in self.plan.villages}

    @cached_property
    def villages_of(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for v in self.plan.villages:
            out.setdefault(v.township, []).append(v.code)
        return out

    @cached_property
    def services(self) -> ServiceMap:
        return ServiceMap(self.plan)

    @cached_property
    def timing(self) -> BatchTiming:
        d = self.cfg.defects
        return BatchTiming(
            self.cfg.seed,
            self.cfg.submission_deadline_day,
            d.late_batch,
            d.outlier_month,
            d.silent_facility,
            self.cfg.period_end,
        )

    @cached_property
    def age_model(self) -> AgeSexModel:
        return age_sex_model(census(self.cfg.province))

    @cached_property
    def province_name(self) -> str:
        return self.divisions.name(self.divisions.province)

    @cached_property
    def _id_blocks(self) -> dict[str, tuple[str, int, int]]:
        groups: dict[str, list[str]] = {}
        for t in self.divisions.townships():
            area = self.divisions.id_area_code(t.parent or "")
            groups.setdefault(area, []).append(t.code)
        out: dict[str, tuple[str, int, int]] = {}
        for area, towns in groups.items():
            size = max(1, 500 // len(towns))
            for i, code in enumerate(sorted(towns)):
                out[code] = (area, i, size)
        return out

    def id_block(self, township: str) -> tuple[str, int, int]:
        """(id area code, block index, block size) of the township's identity-number sequences."""
        return self._id_blocks[township]

    def ethnic_mix(self, county: str) -> tuple[list[str], list[float]]:
        if county not in self._mix:
            self._mix[county] = ethnic_mix(self.cfg.province, county)
        return self._mix[county]

    @staticmethod
    def national_code(dx: str) -> str:
        """The national clinical edition form of a WHO code (J18.9 → J18.900, I10 → I10.x00)."""
        if "." in dx:
            return dx + "0" * (7 - len(dx))
        return dx + ".x00"

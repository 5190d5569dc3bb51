"""Where residents go: the nearest planned facility of each kind for a village, and when a
facility-month batch is submitted to the platform."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from phip.synth.plan import FacilityPlan, PlannedFacility


def _u(*parts: object) -> float:
    """A deterministic uniform number in [0, 1) from the parts."""
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


class ServiceMap:
    """Nearest facility of each kind, searching up the tree (village → township → county →
    prefecture → province) and spreading ties by a stable hash of the village."""

    KINDS = ("clinic", "primary", "county", "tertiary")

    def __init__(self, plan: FacilityPlan):
        self.by_kind: dict[str, list[PlannedFacility]] = {k: [] for k in self.KINDS}
        for f in plan.facilities:
            if f.tier == "village":
                self.by_kind["clinic"].append(f)
            elif f.tier == "primary":
                self.by_kind["primary"].append(f)
            elif f.grade_code and f.grade_code.startswith("3"):
                self.by_kind["tertiary"].append(f)
                self.by_kind["county"].append(f)
            else:
                self.by_kind["county"].append(f)
        self._index: dict[tuple[str, str], list[PlannedFacility]] = {}
        for kind, facs in self.by_kind.items():
            for f in facs:
                for n in (12, 9, 6, 4, 2):
                    if len(f.org_unit_code) >= n:
                        self._index.setdefault((kind, f.org_unit_code[:n]), []).append(f)
        self._cache: dict[tuple[str, str], PlannedFacility] = {}
        # county hospitals prefer secondary ones in the county before tertiary ones
        self._secondary = {f.code for f in self.by_kind["county"] if not (f.grade_code or "").startswith("3")}

    def nearest(self, kind: str, village: str) -> PlannedFacility:
        key = (kind, village)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        levels: tuple[int, ...] = (12, 9, 6, 4, 2) if kind in ("clinic", "primary") else (6, 4, 2)
        if kind == "tertiary":
            levels = (4, 2)
        for n in levels:
            cands = self._index.get((kind, village[:n]))
            if cands:
                if kind == "county":
                    sec = [f for f in cands if f.code in self._secondary]
                    cands = sec or cands
                hit = cands[int(_u("svc", kind, village) * len(cands))]
                break
        else:  # pragma: no cover - a plan always has one facility per tier
            raise LookupError(f"no {kind} facility in the plan")
        self._cache[key] = hit
        return hit

    def local_clinic(self, village: str) -> PlannedFacility | None:
        """The village's own clinic if it has one in the plan."""
        cands = self._index.get(("clinic", village))
        return cands[0] if cands else None


@dataclass(frozen=True)
class BatchTiming:
    seed: int
    deadline_day: int
    late_rate: float
    outlier_rate: float
    silent_rate: float = 0.0
    period_end: date = date(2025, 12, 31)

    def silent_from(self, facility: str) -> date | None:
        """The first month a facility that went silent sent nothing more (its last one to three
        months of the period), or None for a facility that kept submitting."""
        if _u(self.seed, "silent", facility) >= self.silent_rate:
            return None
        months = 1 + int(_u(self.seed, "silent-months", facility) * 3)
        index = self.period_end.year * 12 + self.period_end.month - 1 - (months - 1)
        return date(index // 12, index % 12 + 1, 1)

    def submitted_at(self, facility: str, year: int, month: int) -> tuple[datetime, bool]:
        """When the facility submitted its batch for the month, and whether it was late."""
        first_next = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
        late = _u(self.seed, "late", facility, year, month) < self.late_rate
        u = _u(self.seed, "when", facility, year, month)
        if late:
            d = first_next + timedelta(days=self.deadline_day + int(u * 50))
        else:
            d = first_next + timedelta(days=int(u * self.deadline_day))
        secs = int(_u(self.seed, "secs", facility, year, month) * 36000) + 8 * 3600
        return datetime(d.year, d.month, d.day) + timedelta(seconds=secs), late

    def outlier(self, facility: str, year: int, month: int) -> bool:
        return _u(self.seed, "outlier", facility, year, month) < self.outlier_rate

"""The plumbing of a chunk: ids, submission batches, and the Patient and Coverage records a
person gets at each facility (with the identity corruptions facility systems introduce)."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from phip.standards import idcard
from phip.synth import fhir_clinical as fx
from phip.synth import names
from phip.synth.config import SynthConfig
from phip.synth.context import ProvinceContext
from phip.synth.fhir_common import Json, rid
from phip.synth.fhir_registry import n_doctors, practitioner_id
from phip.synth.people import Person
from phip.synth.plan import PlannedFacility

ADULT_HT = ((35, 0.10), (45, 0.25), (60, 0.45), (200, 0.55))
ADULT_DM = ((35, 0.04), (45, 0.10), (60, 0.18), (200, 0.20))
DEATH = ((1, 0.006), (40, 0.0008), (60, 0.004), (70, 0.012), (80, 0.035), (200, 0.10))
OP_TIER = {
    "child": (0.35, 0.25, 0.30, 0.10),
    "adult": (0.42, 0.28, 0.22, 0.08),
    "old": (0.45, 0.30, 0.20, 0.05),
}
OP_COST = {"clinic": (35, 0.55), "primary": (85, 0.50), "county": (220, 0.40), "tertiary": (380, 0.35)}
IP_COST = {"primary": 2500, "county": 7000, "tertiary": 16000}
OP_REIMB = {"clinic": 0.6, "primary": 0.55, "county": 0.3, "tertiary": 0.2}
IP_REIMB = {"primary": 0.85, "county": 0.70, "tertiary": 0.55}


def _by_age(table: tuple[tuple[int, float], ...], age: int) -> float:
    for limit, v in table:
        if age < limit:
            return v
    return table[-1][1]


def _weighted(rng: random.Random, items: list[tuple[str, int, str | None]], male: bool) -> str:
    allowed = [(c, w) for c, w, s in items if s is None or s == ("male" if male else "female")]
    total = sum(w for _, w in allowed)
    x = rng.random() * total
    for c, w in allowed:
        x -= w
        if x < 0:
            return c
    return allowed[-1][0]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass
class ChunkResult:
    township: str
    part: int
    #: (facility code, resource) in generation order
    resources: list[tuple[str, Json]] = field(default_factory=list)
    people: list[list[Any]] = field(default_factory=list)
    records: list[tuple[str, str, str]] = field(default_factory=list)  # (Patient/id, facility, person)
    defects: list[tuple[str, str, str]] = field(default_factory=list)  # (Type/id, kind, detail)
    hard_negatives: list[tuple[str, str, str]] = field(default_factory=list)


class ChunkBase:
    def __init__(self, ctx: ProvinceContext, township: str, part: int):
        self.ctx = ctx
        self.cfg: SynthConfig = ctx.cfg
        self.township = township
        self.rng = random.Random(f"{self.cfg.seed}:{township}:{part}")
        self.out = ChunkResult(township, part)
        self.patients: dict[tuple[str, str], str] = {}
        self.coverages: dict[tuple[str, str], str] = {}
        self.persons_seen: set[str] = set()
        self.counter = 0
        self.start, self.end = self.cfg.period_start, self.cfg.period_end
        self.days = (self.end - self.start).days + 1

    # ---- plumbing --------------------------------------------------------------------------------
    def nid(self, kind: str) -> str:
        self.counter += 1
        return rid(self.cfg.seed, kind, self.township, self.out.part, self.counter)

    def can_emit(self, fac: PlannedFacility, when: date) -> bool:
        if not (fac.connected and fac.connected_since is not None and fac.connected_since <= when):
            return False
        silent = self.ctx.timing.silent_from(fac.code)
        return silent is None or when < silent

    def emit(self, fac: PlannedFacility, res: Json, when: date) -> bool:
        if not self.can_emit(fac, when):
            return False
        month = max(when, self.start)
        at, _late = self.ctx.timing.submitted_at(fac.code, month.year, month.month)
        res["meta"] = {
            "lastUpdated": at.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "source": f"urn:phip:submission:{fac.code}:{month:%Y-%m}",
        }
        self.out.resources.append((fac.code, res))
        return True

    def when(self, d: date, lo: int = 8, hi: int = 17) -> datetime:
        return datetime(d.year, d.month, d.day, self.rng.randint(lo, hi), self.rng.randrange(60))

    def rand_day(self, lo: date, hi: date) -> date:
        span = (hi - lo).days
        return lo + timedelta(days=self.rng.randint(0, max(0, span)))

    def doctor(self, fac: PlannedFacility) -> str:
        """A doctor of the facility (a small centre with no doctor counted: any staff member)."""
        return practitioner_id(fac, self.rng.randrange(n_doctors(fac) or fac.staff))

    # ---- people ----------------------------------------------------------------------------------
    def address(self, p: Person, no: int) -> str:
        ctx = self.ctx
        v = ctx.villages[p.village]
        t = ctx.divisions.by_code[self.township]
        return f"{ctx.divisions.full_name(t.code)}{v.name}{no}号"

    def patient_at(self, p: Person, fac: PlannedFacility, when: date) -> str | None:
        key = (p.pid, fac.code)
        hit = self.patients.get(key)
        if hit is not None:
            return hit
        if not self.can_emit(fac, when):
            return None
        res_id = rid(self.cfg.seed, "pat", fac.code, p.pid)
        first = p.pid not in self.persons_seen
        self.persons_seen.add(p.pid)
        rng, d = self.rng, self.cfg.defects
        name, birth, phone, id_number = p.name, p.birth, p.phone, p.id18
        marked = False
        kinds: list[tuple[str, str]] = []
        if not first:
            u = rng.random()
            if u < d.homophone:
                v = names.homophone_variant(rng, name)
                if v:
                    kinds.append(("homophone", f"{name}->{v}"))
                    name = v
            elif u < d.homophone + d.dropped_char:
                v = names.dropped_char_variant(rng, name)
                if v:
                    kinds.append(("dropped_char", f"{name}->{v}"))
                    name = v
            elif u < d.homophone + d.dropped_char + d.pinyin_name:
                v = names.pinyin_variant(name)
                kinds.append(("pinyin_name", f"{name}->{v}"))
                name = v
            u = rng.random()
            if u < d.id_typo:
                i = rng.randrange(17)
                id_number = (
                    id_number[:i] + str((int(id_number[i]) + rng.randint(1, 9)) % 10) + id_number[i + 1 :]
                )
                kinds.append(("id_typo", f"position {i + 1}"))
            elif u < d.id_typo + d.id_swap:
                i = rng.randrange(6, 16)
                if id_number[i] != id_number[i + 1]:
                    id_number = id_number[:i] + id_number[i + 1] + id_number[i] + id_number[i + 2 :]
                    kinds.append(("id_swap", f"positions {i + 1}-{i + 2}"))
            elif u < d.id_typo + d.id_swap + d.id_legacy15 and p.birth.year < 1985:
                id_number = idcard.to15(id_number)
                kinds.append(("id_legacy15", ""))
            if rng.random() < d.birth_day_month_swap and birth.day <= 12 and birth.day != birth.month:
                birth = date(birth.year, birth.day, birth.month)
                kinds.append(("birth_day_month_swap", ""))
            if phone and rng.random() < d.phone_changed:
                phone = rng.choice(("13", "15", "18")) + f"{rng.randrange(10**9):09d}"
                kinds.append(("phone_changed", ""))
        village, address = p.village, self.address(p, p.extra.get("no", 1))  # type: ignore[arg-type]
        moved = not first and d.moved_unidentified > 0 and rng.random() < d.moved_unidentified
        if moved:
            village, address = self._moved_address(p)
            id_number = ""
            phone = rng.choice(("13", "15", "18")) + f"{rng.randrange(10**9):09d}"
            kinds = [k for k in kinds if not k[0].startswith("id_") and k[0] != "phone_changed"]
            kinds.append(("moved_unidentified", village))
        missing_rate = d.id_missing_village if fac.tier == "village" else d.id_missing_other
        if not moved and rng.random() < missing_rate:
            marked = rng.random() < 0.5
            id_number = ""
            kinds = [k for k in kinds if not k[0].startswith("id_")]  # nothing left to corrupt
            kinds.append(("id_missing", "marked" if marked else "absent"))
        ctx = self.ctx
        county = ctx.divisions.by_code[self.township[:6]]
        pref = ctx.divisions.by_code[self.township[:4] + "00"]
        res = fx.patient(
            res_id,
            fac.code,
            f"{int(rid('mrn', fac.code, p.pid), 16) % 10**10:010d}",
            name,
            p.male,
            birth,
            id_number or None,
            marked,
            phone,
            p.ethnicity,
            address,
            village,
            county.name,
            pref.name,
            ctx.province_name,
            p.household,
            p.ehealth_card,
            p.deceased if p.deceased and p.deceased <= when else None,
        )
        if not self.emit(fac, res, when):
            return None
        self.patients[key] = res_id
        self.out.records.append((f"Patient/{res_id}", fac.code, p.pid))
        for kind, detail in kinds:
            self.out.defects.append((f"Patient/{res_id}", kind, detail))
        if rng.random() < d.duplicate_patient:
            self._register_again(p, fac, res, when)
        return res_id

    def _moved_address(self, p: Person) -> tuple[str, str]:
        """(village, address) of a resident who has moved to another village of the county and
        registered there without an identity number (人户分离: the record shares only the name, sex
        and birth date with the resident's others)."""
        ctx, rng = self.ctx, self.rng
        county = p.village[:6]
        others = sorted(c for c in ctx.villages if c.startswith(county) and c != p.village) or [p.village]
        code = rng.choice(others)
        v = ctx.villages[code]
        return code, f"{ctx.divisions.full_name(v.township)}{v.name}{rng.randint(1, 120)}号"

    def _register_again(self, p: Person, fac: PlannedFacility, res: Json, when: date) -> None:
        """The same resident registered a second time at the same facility (a new MRN, and often
        a slightly different name): a uniqueness defect for the facility to clean up."""
        dup = copy.deepcopy(res)
        dup["id"] = rid(self.cfg.seed, "pat-again", fac.code, p.pid)
        dup["identifier"][0]["value"] = f"{int(rid('mrn-again', fac.code, p.pid), 16) % 10**10:010d}"
        variant = names.homophone_variant(self.rng, p.name) if self.rng.random() < 0.5 else None
        if variant:
            dup["name"] = [{"use": "official", "text": variant}]
        if self.emit(fac, dup, when):
            self.out.records.append((f"Patient/{dup['id']}", fac.code, p.pid))
            self.out.defects.append(
                (f"Patient/{dup['id']}", "duplicate_patient", f"second record of Patient/{res['id']}")
            )

    def coverage_at(self, p: Person, fac: PlannedFacility, pat: str, when: date) -> str:
        key = (p.pid, fac.code)
        hit = self.coverages.get(key)
        if hit is not None:
            return hit
        start = date(self.start.year, 1, 1)
        kind = (
            ("employee", "城镇职工基本医疗保险")
            if p.employee_insurance
            else ("resident", "城乡居民基本医疗保险")
        )
        payor = f"{self.ctx.province_name}医疗保障局"
        cov = self.nid("cov")
        self.emit(fac, fx.coverage(cov, pat, kind[0], kind[1], start, payor, p.pid[-10:]), when)
        if not p.employee_insurance:
            self.emit(
                fac,
                fx.coverage(
                    self.nid("cov"), pat, "critical-illness", "城乡居民大病保险", start, payor, p.pid[-10:]
                ),
                when,
            )
        if p.poverty:
            self.emit(
                fac,
                fx.coverage(
                    self.nid("cov"),
                    pat,
                    "medical-assistance",
                    "医疗救助",
                    start,
                    f"{self.ctx.province_name}民政厅",
                    p.pid[-10:],
                ),
                when,
            )
        self.coverages[key] = cov
        return cov

    # ---- generation ------------------------------------------------------------------------------

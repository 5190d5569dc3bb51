"""One township's residents and everything their facilities submit about them in the period.

`generate_chunk()` is a pure function of (config, township, part): it returns the resources per
facility plus the ground truth, so chunks can run in any order or in parallel and the output is
the same for a seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from phip.standards import codesystems as cs
from phip.standards import idcard
from phip.synth import fhir_clinical as fx
from phip.synth import names
from phip.synth.catalogues import (
    DRUGS,
    EMERGENCY_DX,
    INPATIENT_DX,
    OUTPATIENT_DX,
    PROCEDURES,
    VACCINES,
)
from phip.synth.config import SynthConfig
from phip.synth.context import ProvinceContext
from phip.synth.fhir_common import Json, rid
from phip.synth.fhir_registry import departments, location_id, n_doctors, practitioner_id, schedule_id
from phip.synth.people import Household, IdAllocator, Person, build_township
from phip.synth.plan import PlannedFacility

ADULT_HT = ((35, 0.10), (45, 0.25), (60, 0.45), (200, 0.55))
ADULT_DM = ((35, 0.04), (45, 0.10), (60, 0.18), (200, 0.20))
DEATH = ((1, 0.006), (40, 0.0008), (60, 0.004), (70, 0.012), (80, 0.035), (200, 0.10))
OP_TIER = {"child": (0.35, 0.25, 0.30, 0.10), "adult": (0.42, 0.28, 0.22, 0.08), "old": (0.45, 0.30, 0.20, 0.05)}
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


class ChunkGenerator:
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
        return fac.connected and fac.connected_since is not None and fac.connected_since <= when

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
        return practitioner_id(fac, self.rng.randrange(n_doctors(fac)))

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
                id_number = id_number[:i] + str((int(id_number[i]) + rng.randint(1, 9)) % 10) + id_number[i + 1 :]
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
        missing_rate = d.id_missing_village if fac.tier == "village" else d.id_missing_other
        if rng.random() < missing_rate:
            marked = rng.random() < 0.5
            id_number = ""
            kinds = [k for k in kinds if not k[0].startswith("id_")]  # nothing left to corrupt
            kinds.append(("id_missing", "marked" if marked else "absent"))
        ctx = self.ctx
        county = ctx.divisions.by_code[self.township[:6]]
        pref = ctx.divisions.by_code[self.township[:4] + "00"]
        res = fx.patient(
            res_id, fac.code, f"{int(rid('mrn', fac.code, p.pid), 16) % 10**10:010d}", name, p.male, birth,
            id_number or None, marked, phone, p.ethnicity, self.address(p, p.extra.get("no", 1)),  # type: ignore[arg-type]
            p.village, county.name, pref.name, ctx.province_name, p.household, p.ehealth_card,
            p.deceased if p.deceased and p.deceased <= when else None,
        )
        if not self.emit(fac, res, when):
            return None
        self.patients[key] = res_id
        self.out.records.append((f"Patient/{res_id}", fac.code, p.pid))
        for kind, detail in kinds:
            self.out.defects.append((f"Patient/{res_id}", kind, detail))
        return res_id

    def coverage_at(self, p: Person, fac: PlannedFacility, pat: str, when: date) -> str:
        key = (p.pid, fac.code)
        hit = self.coverages.get(key)
        if hit is not None:
            return hit
        start = date(self.start.year, 1, 1)
        kind = ("employee", "城镇职工基本医疗保险") if p.employee_insurance else ("resident", "城乡居民基本医疗保险")
        payor = f"{self.ctx.province_name}医疗保障局"
        cov = self.nid("cov")
        self.emit(fac, fx.coverage(cov, pat, kind[0], kind[1], start, payor, p.pid[-10:]), when)
        if not p.employee_insurance:
            self.emit(fac, fx.coverage(self.nid("cov"), pat, "critical-illness", "城乡居民大病保险", start, payor,
                                       p.pid[-10:]), when)
        if p.poverty:
            self.emit(fac, fx.coverage(self.nid("cov"), pat, "medical-assistance", "医疗救助", start,
                                       f"{self.ctx.province_name}民政厅", p.pid[-10:]), when)
        self.coverages[key] = cov
        return cov

    # ---- generation ------------------------------------------------------------------------------
    def run(self, n_people: int, part: int) -> ChunkResult:
        ctx, cfg, rng = self.ctx, self.cfg, self.rng
        county = self.township[:6]
        villages = ctx.villages_of[self.township]
        codes, cum = ctx.ethnic_mix(county)
        ids = IdAllocator(*ctx.id_block(self.township))
        households = build_township(
            rng, self.township, n_people, villages, ctx.age_model, codes, cum, ids, self.start,
            cfg.twin_share_of_births, pid_start=part * 1_000_000 // 1, hid_start=part * 1_000_000,
        )
        for h in households:
            self.prepare_household(h)
        self.common_names(households)
        births: dict[str, list[Person]] = {}
        for h in households:
            for p in h.members:
                if p.mother_pid and p.birth >= self.start:
                    births.setdefault(p.mother_pid, []).append(p)
        for h in households:
            for p in h.members:
                self.person(p, h, births.get(p.pid, []))
                self.out.people.append(self.person_row(p))
                if p.twin_of and p.pid < p.twin_of:
                    self.out.hard_negatives.append((p.pid, p.twin_of, "twin"))
        self.apply_content_defects()
        return self.out

    def prepare_household(self, h: Household) -> None:
        rng, cfg = self.rng, self.cfg
        rural = self.ctx.villages[h.village].kind == "village"
        poverty = rural and rng.random() < cfg.poverty_household_share_rural
        for p in h.members:
            p.extra["no"] = h.address_no
            age = p.age_on(self.start)
            p.poverty = poverty
            p.employee_insurance = (not rural) and 22 <= age <= 60 and rng.random() < 0.5
            if age >= 18:
                p.hypertension = rng.random() < _by_age(ADULT_HT, age) * cfg.hypertension_prevalence_adult / 0.25
                p.diabetes = rng.random() < _by_age(ADULT_DM, age) * cfg.diabetes_prevalence_adult / 0.10
            if rng.random() < cfg.ehealth_card_share:
                p.ehealth_card = rid("card", cfg.seed, p.pid)[:16].upper() + rid("card2", p.pid)[:16].upper()
            if p.birth < self.end and rng.random() < _by_age(DEATH, age) * cfg.annual_death_rate / 0.0083:
                p.deceased = self.rand_day(max(self.start, p.birth), self.end)

    def common_names(self, households: list[Household]) -> None:
        """Hard negatives: unrelated residents given the same common name and birth year."""
        people = [p for h in households for p in h.members if names.surname_of(p.name)]
        by_key: dict[tuple[bool, int], list[Person]] = {}
        for p in people:
            by_key.setdefault((p.male, p.birth.year), []).append(p)
        for group in by_key.values():
            if len(group) < 2:
                continue
            for a in group:
                if self.rng.random() < 0.01:
                    b = self.rng.choice(group)
                    if b is not a and b.household != a.household:
                        b.name = a.name
                        self.out.hard_negatives.append((a.pid, b.pid, "same_name_same_birth_year"))

    def person_row(self, p: Person) -> list[Any]:
        return [
            p.pid, p.name, "1" if p.male else "2", p.birth.isoformat(), p.id18, p.phone or "", p.village,
            p.household, p.relation, p.ethnicity, p.deceased.isoformat() if p.deceased else "",
            int(p.poverty), int(p.hypertension), int(p.diabetes), p.twin_of or "", p.mother_pid or "",
        ]

    def person(self, p: Person, h: Household, born_children: list[Person]) -> None:
        cfg, rng, svc = self.cfg, self.rng, self.ctx.services
        if p.birth > self.end:
            return
        alive_until = min(self.end, p.deceased) if p.deceased else self.end
        first_day = max(self.start, p.birth)
        age = p.age_on(self.start)
        primary = svc.nearest("primary", p.village)
        clinic = svc.local_clinic(p.village)
        # Health record (population + health records + poverty databases) at the primary facility.
        home_pat = None
        if rng.random() < 0.88:
            reg_day = p.deceased if p.deceased else first_day
            home_pat = self.patient_at(p, primary, reg_day)
        if home_pat:
            if p.relation != "ONESELF":
                head = next((m for m in h.members if m.pid == p.head_pid), None)
                if head is not None:
                    self.emit(primary, fx.related_person(self.nid("rp"), home_pat, p.relation, head.name, head.phone),
                              first_day)
            self.coverage_at(p, primary, home_pat, first_day)
            if p.poverty:
                self.emit(primary, fx.flag_poverty(self.nid("flag"), home_pat, primary.code, date(2016, 1, 1)),
                          first_day)
            fd_share = 0.99 if p.poverty else (0.8 if (p.hypertension or p.diabetes or age >= 65) else
                                                cfg.family_doctor_share * 0.8)
            if rng.random() < fd_share:
                s = self.rand_day(self.start - timedelta(days=300), self.start + timedelta(days=60))
                self.emit(primary, fx.care_team(self.nid("ct"), home_pat, primary.code, self.doctor(primary), s,
                                                s + timedelta(days=364)), max(s, first_day))
        self.chronic(p, primary, clinic, home_pat, alive_until)
        self.immunizations(p, primary, alive_until)
        for child in born_children:
            self.maternity(p, child, primary)
        self.outpatient(p, primary, clinic, first_day, alive_until, age)
        self.inpatient(p, primary, first_day, alive_until, age)
        if p.deceased and rng.random() < cfg.defects.encounter_after_death:
            after = p.deceased + timedelta(days=rng.randint(5, 40))
            fac = clinic or primary
            pat = self.patient_at(p, fac, min(after, self.end))
            if pat:
                enc = fx.encounter(self.nid("enc"), pat, fac.code, "AMB", self.when(after), None, self.doctor(fac),
                                   "outpatient", "门诊")
                if self.emit(fac, enc, min(after, self.end)):
                    self.out.defects.append((f"Encounter/{enc['id']}", "encounter_after_death",
                                             f"death {p.deceased.isoformat()}"))

    def chronic(self, p: Person, primary: PlannedFacility, clinic: PlannedFacility | None, home_pat: str | None,
                alive_until: date) -> None:
        rng, cfg = self.rng, self.cfg
        for flag, code, prog, prog_zh, obs in (
            (p.hypertension, "I10", "hypertension", "高血压患者健康管理", "bp"),
            (p.diabetes, "E11.9", "diabetes", "2型糖尿病患者健康管理", "glucose"),
        ):
            if not flag or not home_pat or rng.random() > cfg.chronic_registered_share:
                continue
            since = self.start - timedelta(days=rng.randint(30, 3000))
            self.emit(primary, fx.condition(self.nid("cond"), home_pat, code, self.when(since), None,
                                            "problem-list-item"), self.start)
            self.emit(primary, fx.episode(self.nid("eoc"), home_pat, primary.code, prog, prog_zh, since), self.start)
            controlled = rng.random() < (0.55 if obs == "bp" else 0.5)
            for q in range(4):
                q_start = date(self.start.year, 3 * q + 1, 1)
                if q_start > alive_until or rng.random() > 0.88:
                    continue
                d = min(q_start + timedelta(days=rng.randint(0, 80)), alive_until)
                fac = clinic if clinic is not None and rng.random() < 0.5 else primary
                pat = self.patient_at(p, fac, d)
                if not pat:
                    continue
                enc = fx.encounter(self.nid("enc"), pat, fac.code, "AMB", self.when(d), None, self.doctor(fac),
                                   f"followup-{prog}", "慢病随访")
                if not self.emit(fac, enc, d):
                    continue
                t = self.when(d)
                if obs == "bp":
                    sbp = int(rng.gauss(128, 8) if controlled else rng.gauss(152, 11))
                    dbp = int(rng.gauss(80, 6) if controlled else rng.gauss(95, 8))
                    self.emit(fac, fx.blood_pressure(self.nid("obs"), pat, enc["id"], sbp, dbp, t), d)
                else:
                    g = round(rng.gauss(6.3, 0.6) if controlled else rng.gauss(8.9, 1.4), 1)
                    self.emit(fac, fx.observation(self.nid("obs"), pat, enc["id"], "glucose", g, t, "laboratory"), d)
                if q == 0:
                    h = round(rng.gauss(170 if p.male else 158, 6), 1)
                    w = round(rng.gauss(70 if p.male else 60, 9), 1)
                    self.emit(fac, fx.observation(self.nid("obs"), pat, enc["id"], "height", h, t, "vital-signs"), d)
                    self.emit(fac, fx.observation(self.nid("obs"), pat, enc["id"], "weight", w, t, "vital-signs"), d)
                    self.emit(fac, fx.observation(self.nid("obs"), pat, enc["id"], "bmi", round(w / (h / 100) ** 2, 1),
                                                  t, "vital-signs"), d)

    def immunizations(self, p: Person, primary: PlannedFacility, alive_until: date) -> None:
        if p.age_on(self.start) > 7:
            return
        rng = self.rng
        for vac in VACCINES:
            for dose, months in enumerate(vac[4], start=1):
                due = p.birth + timedelta(days=int(months * 30.44))
                if not (self.start <= due <= alive_until) or rng.random() > 0.96:
                    continue
                d = due + timedelta(days=rng.randint(0, 20) if rng.random() < 0.9 else rng.randint(30, 90))
                if d > alive_until:
                    continue
                pat = self.patient_at(p, primary, d)
                if pat:
                    self.emit(primary, fx.immunization(self.nid("imm"), pat, primary.code, vac, dose, self.when(d)), d)

    def maternity(self, mother: Person, child: Person, primary: PlannedFacility) -> None:
        rng, svc = self.rng, self.ctx.services
        pat = None
        for weeks in (12, 16, 24, 32, 37):
            d = child.birth - timedelta(weeks=40 - weeks)
            if d < self.start:
                continue
            pat = self.patient_at(mother, primary, d)
            if not pat:
                continue
            enc = fx.encounter(self.nid("enc"), pat, primary.code, "AMB", self.when(d), None, self.doctor(primary),
                               "prenatal", "产前检查")
            if self.emit(primary, enc, d):
                self.emit(primary, fx.blood_pressure(self.nid("obs"), pat, enc["id"], int(rng.gauss(115, 8)),
                                                     int(rng.gauss(72, 6)), self.when(d)), d)
        hosp = svc.nearest("county", mother.village)
        cesarean = rng.random() < 0.4
        self.admission(mother, hosp, child.birth - timedelta(days=1), rng.randint(3, 6), "O82" if cesarean else "O80",
                       "county")

    def visit_tier(self, age: int, urban: bool) -> str:
        probs = OP_TIER["child" if age < 15 else "adult" if age < 65 else "old"]
        u = self.rng.random()
        acc = 0.0
        for kind, pr in zip(ServiceKinds, probs, strict=True):
            acc += pr
            if u < acc:
                return "primary" if (kind == "clinic" and urban) else kind
        return "county"

    def outpatient(self, p: Person, primary: PlannedFacility, clinic: PlannedFacility | None, first: date,
                   until: date, age: int) -> None:
        cfg, rng, svc = self.cfg, self.rng, self.ctx.services
        if until < first:
            return
        frac = ((until - first).days + 1) / self.days
        mult = 1.6 if age < 5 else 0.6 if age < 45 else 1.1 if age < 65 else 1.9
        lam = cfg.outpatient_visits_per_year * mult * frac + (1.0 if (p.hypertension or p.diabetes) else 0.0)
        urban = clinic is None
        for _ in range(_poisson(rng, lam)):
            kind = self.visit_tier(age, urban)
            fac = (clinic if kind == "clinic" and clinic is not None else svc.nearest(kind, p.village))
            d = self.rand_day(first, until)
            self.visit(p, fac, kind, d, "AMB", age)
        for _ in range(_poisson(rng, cfg.emergency_visits_per_year * frac)):
            fac = svc.nearest("county", p.village)
            self.visit(p, fac, "county", self.rand_day(first, until), "EMER", age)

    def visit(self, p: Person, fac: PlannedFacility, kind: str, d: date, cls: str, age: int,
              based_on: str | None = None) -> str | None:
        cfg, rng = self.cfg, self.rng
        pat = self.patient_at(p, fac, d)
        if not pat:
            return None
        t = self.when(d, 0, 23) if cls == "EMER" else self.when(d)
        doc = self.doctor(fac)
        dx_table = EMERGENCY_DX if cls == "EMER" else OUTPATIENT_DX
        dx = _weighted(rng, dx_table, p.male)
        if (p.hypertension and rng.random() < 0.3) or (p.diabetes and rng.random() < 0.2):
            dx = "I10" if p.hypertension else "E11.9"
        appt = None
        if kind in ("county", "tertiary") and cls == "AMB" and rng.random() < cfg.appointment_share_hospital:
            appt = self.appointment(pat, fac, doc, t)
        enc = fx.encounter(self.nid("enc"), pat, fac.code, cls, t, t + timedelta(minutes=rng.randint(5, 40)), doc,
                           "emergency" if cls == "EMER" else "outpatient", "急诊" if cls == "EMER" else "门诊")
        if appt:
            enc["appointment"] = [{"reference": f"Appointment/{appt}"}]
        if based_on:
            enc["basedOn"] = [{"reference": f"ServiceRequest/{based_on}"}]
        if p.ehealth_card and rng.random() < 0.65:
            enc["extension"] = [{"url": cs.EXT_CARD_USED, "valueBoolean": True}]
        if self.ctx.timing.outlier(fac.code, d.year, d.month) and cls == "AMB":
            for _ in range(3):  # the implausible spike: the same visit keyed in again
                dup = dict(enc, id=self.nid("enc"))
                self.emit(fac, dup, d)
        if not self.emit(fac, enc, d):
            return None
        national = kind in ("county", "tertiary") and rng.random() < 0.3
        code = self.ctx.national_code(dx) if national else dx
        cond = fx.condition(self.nid("cond"), pat, code, t, enc["id"], "encounter-diagnosis")
        self.emit(fac, cond, d)
        enc["diagnosis"] = [{"condition": {"reference": f"Condition/{cond['id']}"}, "rank": 1}]
        if age >= 35 and kind in ("clinic", "primary") and rng.random() < 0.3:
            self.emit(fac, fx.blood_pressure(self.nid("obs"), pat, enc["id"], int(rng.gauss(132, 14)),
                                             int(rng.gauss(82, 9)), t), d)
        if kind in ("county", "tertiary") and rng.random() < 0.25:
            for key, mu, sd in (("glucose", 5.6, 1.0), ("hb", 135 if p.male else 122, 12), ("wbc", 6.5, 1.8)):
                self.emit(fac, fx.observation(self.nid("obs"), pat, enc["id"], key, round(rng.gauss(mu, sd), 1), t,
                                              "laboratory"), d)
        base, drug_share = OP_COST[kind]
        total = base * math.exp(rng.gauss(0, 0.5))
        drug_cost = 0.0
        if rng.random() < 0.75:
            drug_cost = self.prescribe(p, pat, fac, enc["id"], doc, dx, t, d, kind, total * drug_share / (1 - drug_share))
        service = total if drug_cost == 0 else total * (1 - drug_share)
        if kind == "clinic" and rng.random() < cfg.up_referral_share * 2 or (
            kind == "primary" and rng.random() < cfg.up_referral_share
        ):
            self.refer_up(p, pat, fac, doc, dx, d, age)
        self.bill(p, pat, fac, enc["id"], t, d, drug_cost, service, inpatient=False, kind=kind)
        return enc["id"]

    def appointment(self, pat: str, fac: PlannedFacility, doc: str, t: datetime) -> str:
        rng = self.rng
        dept = departments(fac)[rng.randrange(len(departments(fac)) - 1)][0]
        slot_id, appt_id = self.nid("slot"), self.nid("appt")
        booked = t - timedelta(days=rng.randint(0, 7), hours=rng.randint(0, 10))
        self.emit(fac, fx.slot(slot_id, schedule_id(fac, dept), t, t + timedelta(minutes=15)), t.date())
        self.emit(fac, fx.appointment(appt_id, pat, doc, slot_id, t, t + timedelta(minutes=15), "fulfilled", booked),
                  t.date())
        if rng.random() < 0.06:  # some booked slots are missed
            s2, a2 = self.nid("slot"), self.nid("appt")
            t2 = t - timedelta(days=rng.randint(10, 40))
            if t2.date() >= self.start:
                self.emit(fac, fx.slot(s2, schedule_id(fac, dept), t2, t2 + timedelta(minutes=15)), t2.date())
                self.emit(fac, fx.appointment(a2, pat, doc, s2, t2, t2 + timedelta(minutes=15), "noshow",
                                              t2 - timedelta(days=2)), t2.date())
        return appt_id

    def prescribe(self, p: Person, pat: str, fac: PlannedFacility, enc: str, doc: str, dx: str, t: datetime,
                  d: date, kind: str, budget: float) -> float:
        rng, cfg = self.rng, self.cfg
        stem = dx.split(".")[0]
        options = [g for g in DRUGS if dx in g[4] or any(x.split(".")[0] == stem for x in g[4])] or DRUGS
        n = 1 if rng.random() < 0.6 else 2
        cost = 0.0
        for drug in rng.sample(options, min(n, len(options))):
            qty = max(1, round(budget / n / drug[3]))
            cost += qty * drug[3]
            eprx = kind in ("county", "tertiary") and rng.random() < cfg.eprescription_share
            mr = fx.medication_request(self.nid("mr"), pat, enc, doc, drug, t, qty, eprx)
            if not self.emit(fac, mr, d):
                continue
            if kind in ("county", "tertiary"):
                where = fac
                if eprx:
                    other = self.ctx.services.nearest("primary", p.village)
                    where = other if self.can_emit(other, d) else fac
                self.emit(where, fx.medication_dispense(self.nid("md"), pat, mr["id"], drug,
                                                        t + timedelta(minutes=30), qty, where.code), d)
        return cost

    def bill(self, p: Person, pat: str, fac: PlannedFacility, enc: str, t: datetime, d: date, drug: float,
             service: float, inpatient: bool, kind: str) -> None:
        cov = self.coverage_at(p, fac, pat, d)
        total = drug + service
        rate = (IP_REIMB.get(kind, 0.7) if inpatient else OP_REIMB.get(kind, 0.3)) + (
            0.1 if p.employee_insurance else 0.0)
        funds = {"basic": total * rate, "critical": 0.0, "assistance": 0.0}
        if p.poverty:
            remaining = total - funds["basic"]
            if inpatient and total > 5000:
                funds["critical"] = remaining * 0.5
                remaining -= funds["critical"]
            funds["assistance"] = remaining * 0.7
        clm = fx.claim(self.nid("clm"), pat, fac.code, enc, cov, t, drug, service, inpatient)
        if self.emit(fac, clm, d):
            self.emit(fac, fx.eob(self.nid("eob"), pat, fac.code, clm["id"], cov, t + timedelta(hours=1), total, funds,
                                  f"{self.ctx.province_name}医疗保障局"), d)

    def refer_up(self, p: Person, pat: str, fac: PlannedFacility, doc: str, dx: str, d: date, age: int) -> None:
        target = self.ctx.services.nearest("county", p.village)
        if not (fac.referral_enabled and target.referral_enabled and self.can_emit(target, d)):
            return
        sr = fx.service_request(self.nid("sr"), pat, doc, fac.code, target.code, "up", dx, self.when(d))
        if self.emit(fac, sr, d):
            later = min(d + timedelta(days=self.rng.randint(1, 14)), self.end)
            self.visit(p, target, "county", later, "AMB", age, based_on=sr["id"])

    def inpatient(self, p: Person, primary: PlannedFacility, first: date, until: date, age: int) -> None:
        cfg, rng = self.cfg, self.rng
        if until < first:
            return
        frac = ((until - first).days + 1) / self.days
        mult = 0.5 if age < 15 else 0.7 if age < 45 else 1.2 if age < 65 else 2.5
        lam = cfg.inpatient_admissions_per_year * mult * frac * (1.5 if (p.hypertension or p.diabetes) else 1.0)
        n = _poisson(rng, lam)
        dies_in_hospital = p.deceased is not None and p.deceased <= self.end and rng.random() < 0.5
        for i in range(n + (1 if dies_in_hospital else 0)):
            u = rng.random()
            kind = "county" if u < 0.65 else "tertiary" if u < 0.9 else "primary"
            fac = self.ctx.services.nearest(kind, p.village)
            los = max(1, min(60, int(rng.lognormvariate(1.9, 0.55))))
            if i == n and dies_in_hospital and p.deceased:
                admit = max(first, p.deceased - timedelta(days=los))
                los = (p.deceased - admit).days
            else:
                admit = self.rand_day(first, until)
            dx = _weighted(rng, INPATIENT_DX, p.male)
            self.admission(p, fac, admit, los, dx, kind, died=(i == n and dies_in_hospital))
            if not (i == n and dies_in_hospital) and rng.random() < cfg.down_referral_share:
                discharge = admit + timedelta(days=los)
                if discharge <= self.end and fac.referral_enabled and primary.referral_enabled:
                    pat = self.patients.get((p.pid, fac.code))
                    if pat and self.can_emit(primary, discharge):
                        sr = fx.service_request(self.nid("sr"), pat, self.doctor(fac), fac.code, primary.code, "down",
                                                dx, self.when(discharge))
                        if self.emit(fac, sr, discharge):
                            self.visit(p, primary, "primary", min(discharge + timedelta(days=rng.randint(1, 10)),
                                                                  self.end), "AMB", age, based_on=sr["id"])

    def admission(self, p: Person, fac: PlannedFacility, admit: date, los: int, dx: str, kind: str,
                  died: bool = False) -> None:
        rng = self.rng
        if admit < self.start or admit > self.end:
            return
        pat = self.patient_at(p, fac, admit)
        if not pat:
            return
        t_in = self.when(admit, 0, 23)
        t_out = datetime.combine(admit + timedelta(days=los), t_in.time()) + timedelta(hours=rng.randint(1, 6))
        dept = departments(fac)[rng.randrange(len(departments(fac)))][0]
        doc = self.doctor(fac)
        enc = fx.encounter(self.nid("enc"), pat, fac.code, "IMP", t_in, t_out, doc, "inpatient", "住院",
                           location_id(fac, dept))
        enc["hospitalization"] = {
            "admitSource": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/admit-source",
                                        "code": "emd" if rng.random() < 0.3 else "outp"}]},
            "dischargeDisposition": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                "code": "exp" if died else "home"}]},
        }
        if p.ehealth_card and rng.random() < 0.7:
            enc["extension"] = [{"url": cs.EXT_CARD_USED, "valueBoolean": True}]
        if not self.emit(fac, enc, admit):
            return
        code = self.ctx.national_code(dx) if rng.random() < 0.5 else dx
        cond = fx.condition(self.nid("cond"), pat, code, t_in, enc["id"], "encounter-diagnosis")
        self.emit(fac, cond, admit)
        enc["diagnosis"] = [{"condition": {"reference": f"Condition/{cond['id']}"},
                             "use": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/diagnosis-role",
                                                 "code": "DD", "display": "Discharge diagnosis"}]}, "rank": 1}]
        if (p.hypertension or p.diabetes) and dx not in ("I10", "E11.9"):
            c2 = fx.condition(self.nid("cond"), pat, "I10" if p.hypertension else "E11.9", t_in, enc["id"],
                              "encounter-diagnosis")
            self.emit(fac, c2, admit)
            enc["diagnosis"].append({"condition": {"reference": f"Condition/{c2['id']}"}, "rank": 2})
        if dx in PROCEDURES and rng.random() < 0.8:
            pcode, pzh = PROCEDURES[dx]
            self.emit(fac, fx.procedure(self.nid("proc"), pat, enc["id"], pcode, pzh,
                                        t_in + timedelta(hours=rng.randint(2, 30))), admit)
        self.emit(fac, fx.observation(self.nid("obs"), pat, enc["id"], "temp", round(rng.gauss(36.8, 0.5), 1), t_in,
                                      "vital-signs"), admit)
        self.emit(fac, fx.blood_pressure(self.nid("obs"), pat, enc["id"], int(rng.gauss(130, 15)),
                                         int(rng.gauss(80, 10)), t_in), admit)
        total = IP_COST.get(kind, 7000) * math.exp(rng.gauss(0, 0.45)) * (los / 8.5) ** 0.6
        drug = self.prescribe(p, pat, fac, enc["id"], doc, dx, t_in, admit, kind, total * 0.3)
        self.bill(p, pat, fac, enc["id"], t_out, admit, drug, total - drug, inpatient=True, kind=kind)

    # ---- content defects -------------------------------------------------------------------------
    def apply_content_defects(self) -> None:
        from phip.synth.defects import inject

        inject(self.rng, self.cfg, self.out, self.nid)


ServiceKinds = ("clinic", "primary", "county", "tertiary")


def generate_chunk(ctx: ProvinceContext, township: str, part: int, n_people: int) -> ChunkResult:
    return ChunkGenerator(ctx, township, part).run(n_people, part)

"""Clinical activity: outpatient, emergency and inpatient care with diagnoses, observations,
prescriptions and dispenses, appointments, referrals and bills."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from phip.standards import codesystems as cs
from phip.synth import fhir_clinical as fx
from phip.synth.catalogues import (
    DRUGS,
    EMERGENCY_DX,
    INPATIENT_DX,
    OUTPATIENT_DX,
    PROCEDURES,
)
from phip.synth.chunk_base import (
    IP_COST,
    IP_REIMB,
    OP_COST,
    OP_REIMB,
    OP_TIER,
    ChunkBase,
    _poisson,
    _weighted,
)
from phip.synth.fhir_registry import departments, location_id, schedule_id
from phip.synth.people import Person
from phip.synth.plan import PlannedFacility

ServiceKinds = ("clinic", "primary", "county", "tertiary")


class ClinicalEvents(ChunkBase):
    def visit_tier(self, age: int, urban: bool) -> str:
        probs = OP_TIER["child" if age < 15 else "adult" if age < 65 else "old"]
        u = self.rng.random()
        acc = 0.0
        for kind, pr in zip(ServiceKinds, probs, strict=True):
            acc += pr
            if u < acc:
                return "primary" if (kind == "clinic" and urban) else kind
        return "county"

    def outpatient(
        self,
        p: Person,
        primary: PlannedFacility,
        clinic: PlannedFacility | None,
        first: date,
        until: date,
        age: int,
    ) -> None:
        cfg, rng, svc = self.cfg, self.rng, self.ctx.services
        if until < first:
            return
        frac = ((until - first).days + 1) / self.days
        mult = 1.6 if age < 5 else 0.6 if age < 45 else 1.1 if age < 65 else 1.9
        lam = cfg.outpatient_visits_per_year * mult * frac + (1.0 if (p.hypertension or p.diabetes) else 0.0)
        urban = self.ctx.villages[p.village].kind == "community"
        for _ in range(_poisson(rng, lam)):
            kind = self.visit_tier(age, urban)
            fac = clinic if kind == "clinic" and clinic is not None else svc.nearest(kind, p.village)
            d = self.rand_day(first, until)
            self.visit(p, fac, kind, d, "AMB", age)
        for _ in range(_poisson(rng, cfg.emergency_visits_per_year * frac)):
            fac = svc.nearest("county", p.village)
            self.visit(p, fac, "county", self.rand_day(first, until), "EMER", age)

    def visit(
        self,
        p: Person,
        fac: PlannedFacility,
        kind: str,
        d: date,
        cls: str,
        age: int,
        based_on: str | None = None,
    ) -> str | None:
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
        enc = fx.encounter(
            self.nid("enc"),
            pat,
            fac.code,
            cls,
            t,
            t + timedelta(minutes=rng.randint(5, 40)),
            doc,
            "emergency" if cls == "EMER" else "outpatient",
            "急诊" if cls == "EMER" else "门诊",
        )
        if appt:
            enc["appointment"] = [{"reference": f"Appointment/{appt}"}]
        if based_on:
            enc["basedOn"] = [{"reference": f"ServiceRequest/{based_on}"}]
        if p.ehealth_card and rng.random() < 0.65:
            enc["extension"] = [{"url": cs.EXT_CARD_USED, "valueBoolean": True}]
        if self.ctx.timing.outlier(fac.code, d.year, d.month) and cls == "AMB":
            for _ in range(3):  # the implausible spike: the same visit keyed in again
                dup = dict(enc, id=self.nid("enc"))
                if self.emit(fac, dup, d):
                    self.out.defects.append(
                        (f"Encounter/{dup['id']}", "duplicate_record", f"copy of Encounter/{enc['id']}")
                    )
        if not self.emit(fac, enc, d):
            return None
        national = kind in ("county", "tertiary") and rng.random() < 0.3
        code = self.ctx.national_code(dx) if national else dx
        cond = fx.condition(self.nid("cond"), pat, code, t, enc["id"], "encounter-diagnosis")
        self.emit(fac, cond, d)
        enc["diagnosis"] = [{"condition": {"reference": f"Condition/{cond['id']}"}, "rank": 1}]
        if age >= 35 and kind in ("clinic", "primary") and rng.random() < 0.3:
            self.emit(
                fac,
                fx.blood_pressure(
                    self.nid("obs"), pat, enc["id"], int(rng.gauss(132, 14)), int(rng.gauss(82, 9)), t
                ),
                d,
            )
        if kind in ("county", "tertiary") and rng.random() < 0.25:
            for key, mu, sd in (("glucose", 5.6, 1.0), ("hb", 135 if p.male else 122, 12), ("wbc", 6.5, 1.8)):
                self.emit(
                    fac,
                    fx.observation(
                        self.nid("obs"), pat, enc["id"], key, round(rng.gauss(mu, sd), 1), t, "laboratory"
                    ),
                    d,
                )
        base, drug_share = OP_COST[kind]
        total = base * math.exp(rng.gauss(0, 0.5))
        drug_cost = 0.0
        if rng.random() < 0.75:
            drug_cost = self.prescribe(
                p, pat, fac, enc["id"], doc, dx, t, d, kind, total * drug_share / (1 - drug_share)
            )
        service = total if drug_cost == 0 else total * (1 - drug_share)
        if (kind == "clinic" and rng.random() < cfg.up_referral_share * 2) or (
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
        self.emit(
            fac,
            fx.appointment(appt_id, pat, doc, slot_id, t, t + timedelta(minutes=15), "fulfilled", booked),
            t.date(),
        )
        if rng.random() < 0.06:  # some booked slots are missed
            s2, a2 = self.nid("slot"), self.nid("appt")
            t2 = t - timedelta(days=rng.randint(10, 40))
            if t2.date() >= self.start:
                self.emit(fac, fx.slot(s2, schedule_id(fac, dept), t2, t2 + timedelta(minutes=15)), t2.date())
                self.emit(
                    fac,
                    fx.appointment(
                        a2, pat, doc, s2, t2, t2 + timedelta(minutes=15), "noshow", t2 - timedelta(days=2)
                    ),
                    t2.date(),
                )
        return appt_id

    def prescribe(
        self,
        p: Person,
        pat: str,
        fac: PlannedFacility,
        enc: str,
        doc: str,
        dx: str,
        t: datetime,
        d: date,
        kind: str,
        budget: float,
    ) -> float:
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
                self.emit(
                    where,
                    fx.medication_dispense(
                        self.nid("md"), pat, mr["id"], drug, t + timedelta(minutes=30), qty, where.code
                    ),
                    d,
                )
        return cost

    def bill(
        self,
        p: Person,
        pat: str,
        fac: PlannedFacility,
        enc: str,
        t: datetime,
        d: date,
        drug: float,
        service: float,
        inpatient: bool,
        kind: str,
    ) -> None:
        cov = self.coverage_at(p, fac, pat, d)
        total = drug + service
        rate = (IP_REIMB.get(kind, 0.7) if inpatient else OP_REIMB.get(kind, 0.3)) + (
            0.1 if p.employee_insurance else 0.0
        )
        funds = {"basic": total * rate, "critical": 0.0, "assistance": 0.0}
        if p.poverty:
            remaining = total - funds["basic"]
            if inpatient and total > 5000:
                funds["critical"] = remaining * 0.5
                remaining -= funds["critical"]
            funds["assistance"] = remaining * 0.7
        clm = fx.claim(self.nid("clm"), pat, fac.code, enc, cov, t, drug, service, inpatient)
        if self.emit(fac, clm, d):
            self.emit(
                fac,
                fx.eob(
                    self.nid("eob"),
                    pat,
                    fac.code,
                    clm["id"],
                    cov,
                    t + timedelta(hours=1),
                    total,
                    funds,
                    f"{self.ctx.province_name}医疗保障局",
                ),
                d,
            )

    def refer_up(
        self, p: Person, pat: str, fac: PlannedFacility, doc: str, dx: str, d: date, age: int
    ) -> None:
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
        lam = (
            cfg.inpatient_admissions_per_year * mult * frac * (1.5 if (p.hypertension or p.diabetes) else 1.0)
        )
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
                        sr = fx.service_request(
                            self.nid("sr"),
                            pat,
                            self.doctor(fac),
                            fac.code,
                            primary.code,
                            "down",
                            dx,
                            self.when(discharge),
                        )
                        if self.emit(fac, sr, discharge):
                            self.visit(
                                p,
                                primary,
                                "primary",
                                min(discharge + timedelta(days=rng.randint(1, 10)), self.end),
                                "AMB",
                                age,
                                based_on=sr["id"],
                            )

    def admission(
        self, p: Person, fac: PlannedFacility, admit: date, los: int, dx: str, kind: str, died: bool = False
    ) -> None:
        rng = self.rng
        if admit < self.start or admit > self.end:
            return
        pat = self.patient_at(p, fac, admit)
        if not pat:
            return
        t_in = self.when(admit, 0, 23)
        t_out = datetime.combine(admit + timedelta(days=los), t_in.time()) + timedelta(
            hours=rng.randint(1, 6)
        )
        dept = departments(fac)[rng.randrange(len(departments(fac)))][0]
        doc = self.doctor(fac)
        enc = fx.encounter(
            self.nid("enc"),
            pat,
            fac.code,
            "IMP",
            t_in,
            t_out,
            doc,
            "inpatient",
            "住院",
            location_id(fac, dept),
        )
        enc["hospitalization"] = {
            "admitSource": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/admit-source",
                        "code": "emd" if rng.random() < 0.3 else "outp",
                    }
                ]
            },
            "dischargeDisposition": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                        "code": "exp" if died else "home",
                    }
                ]
            },
        }
        if p.ehealth_card and rng.random() < 0.7:
            enc["extension"] = [{"url": cs.EXT_CARD_USED, "valueBoolean": True}]
        if not self.emit(fac, enc, admit):
            return
        code = self.ctx.national_code(dx) if rng.random() < 0.5 else dx
        cond = fx.condition(self.nid("cond"), pat, code, t_in, enc["id"], "encounter-diagnosis")
        self.emit(fac, cond, admit)
        enc["diagnosis"] = [
            {
                "condition": {"reference": f"Condition/{cond['id']}"},
                "use": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/diagnosis-role",
                            "code": "DD",
                            "display": "Discharge diagnosis",
                        }
                    ]
                },
                "rank": 1,
            }
        ]
        if (p.hypertension or p.diabetes) and dx not in ("I10", "E11.9"):
            c2 = fx.condition(
                self.nid("cond"),
                pat,
                "I10" if p.hypertension else "E11.9",
                t_in,
                enc["id"],
                "encounter-diagnosis",
            )
            self.emit(fac, c2, admit)
            enc["diagnosis"].append({"condition": {"reference": f"Condition/{c2['id']}"}, "rank": 2})
        if dx in PROCEDURES and rng.random() < 0.8:
            pcode, pzh = PROCEDURES[dx]
            self.emit(
                fac,
                fx.procedure(
                    self.nid("proc"), pat, enc["id"], pcode, pzh, t_in + timedelta(hours=rng.randint(2, 30))
                ),
                admit,
            )
        self.emit(
            fac,
            fx.observation(
                self.nid("obs"), pat, enc["id"], "temp", round(rng.gauss(36.8, 0.5), 1), t_in, "vital-signs"
            ),
            admit,
        )
        self.emit(
            fac,
            fx.blood_pressure(
                self.nid("obs"), pat, enc["id"], int(rng.gauss(130, 15)), int(rng.gauss(80, 10)), t_in
            ),
            admit,
        )
        total = IP_COST.get(kind, 7000) * math.exp(rng.gauss(0, 0.45)) * (los / 8.5) ** 0.6
        drug = self.prescribe(p, pat, fac, enc["id"], doc, dx, t_in, admit, kind, total * 0.3)
        self.bill(p, pat, fac, enc["id"], t_out, admit, drug, total - drug, inpatient=True, kind=kind)

    # ---- content defects -------------------------------------------------------------------------

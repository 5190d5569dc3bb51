"""Public-health activity: chronic disease management, immunisation, maternal care."""

from __future__ import annotations

from datetime import date, timedelta

from phip.standards.vaccines import VACCINES
from phip.synth import fhir_clinical as fx
from phip.synth.people import Person
from phip.synth.plan import PlannedFacility
from phip.synth.visits import ClinicalEvents


class PublicHealthEvents(ClinicalEvents):
    def chronic(
        self,
        p: Person,
        primary: PlannedFacility,
        clinic: PlannedFacility | None,
        home_pat: str | None,
        alive_until: date,
    ) -> None:
        rng, cfg = self.rng, self.cfg
        for flag, code, prog, prog_zh, obs in (
            (p.hypertension, "I10", "hypertension", "高血压患者健康管理", "bp"),
            (p.diabetes, "E11.9", "diabetes", "2型糖尿病患者健康管理", "glucose"),
        ):
            if not flag or not home_pat or rng.random() > cfg.chronic_registered_share:
                continue
            since = self.start - timedelta(days=rng.randint(30, 3000))
            self.emit(
                primary,
                fx.condition(self.nid("cond"), home_pat, code, self.when(since), None, "problem-list-item"),
                self.start,
            )
            self.emit(
                primary, fx.episode(self.nid("eoc"), home_pat, primary.code, prog, prog_zh, since), self.start
            )
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
                enc = fx.encounter(
                    self.nid("enc"),
                    pat,
                    fac.code,
                    "AMB",
                    self.when(d),
                    None,
                    self.doctor(fac),
                    f"followup-{prog}",
                    "慢病随访",
                )
                if not self.emit(fac, enc, d):
                    continue
                t = self.when(d)
                if obs == "bp":
                    sbp = int(rng.gauss(128, 8) if controlled else rng.gauss(152, 11))
                    dbp = int(rng.gauss(80, 6) if controlled else rng.gauss(95, 8))
                    self.emit(fac, fx.blood_pressure(self.nid("obs"), pat, enc["id"], sbp, dbp, t), d)
                else:
                    g = round(rng.gauss(6.3, 0.6) if controlled else rng.gauss(8.9, 1.4), 1)
                    self.emit(
                        fac, fx.observation(self.nid("obs"), pat, enc["id"], "glucose", g, t, "laboratory"), d
                    )
                if q == 0:
                    h = round(rng.gauss(170 if p.male else 158, 6), 1)
                    w = round(rng.gauss(70 if p.male else 60, 9), 1)
                    self.emit(
                        fac, fx.observation(self.nid("obs"), pat, enc["id"], "height", h, t, "vital-signs"), d
                    )
                    self.emit(
                        fac, fx.observation(self.nid("obs"), pat, enc["id"], "weight", w, t, "vital-signs"), d
                    )
                    self.emit(
                        fac,
                        fx.observation(
                            self.nid("obs"),
                            pat,
                            enc["id"],
                            "bmi",
                            round(w / (h / 100) ** 2, 1),
                            t,
                            "vital-signs",
                        ),
                        d,
                    )

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
                    self.emit(
                        primary,
                        fx.immunization(self.nid("imm"), pat, primary.code, vac, dose, self.when(d)),
                        d,
                    )

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
            enc = fx.encounter(
                self.nid("enc"),
                pat,
                primary.code,
                "AMB",
                self.when(d),
                None,
                self.doctor(primary),
                "prenatal",
                "产前检查",
            )
            if self.emit(primary, enc, d):
                self.emit(
                    primary,
                    fx.blood_pressure(
                        self.nid("obs"),
                        pat,
                        enc["id"],
                        int(rng.gauss(115, 8)),
                        int(rng.gauss(72, 6)),
                        self.when(d),
                    ),
                    d,
                )
        hosp = svc.nearest("county", mother.village)
        cesarean = rng.random() < 0.4
        self.admission(
            mother,
            hosp,
            child.birth - timedelta(days=1),
            rng.randint(3, 6),
            "O82" if cesarean else "O80",
            "county",
        )

"""One township's residents and everything their facilities submit about them in the period.

`generate_chunk()` is a pure function of (config, township, part): it returns the resources per
facility plus the ground truth, so chunks can run in any order or in parallel and the output is
the same for a seed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from phip.synth import fhir_clinical as fx
from phip.synth import names
from phip.synth.care import PublicHealthEvents
from phip.synth.chunk_base import ADULT_DM, ADULT_HT, DEATH, ChunkResult, _by_age
from phip.synth.context import ProvinceContext
from phip.synth.fhir_common import rid
from phip.synth.people import Household, IdAllocator, Person, add_births, build_township


class ChunkGenerator(PublicHealthEvents):
    """Generates one chunk (a township, or part of a large one)."""

    def run(self, n_people: int, part: int) -> ChunkResult:
        ctx, cfg, rng = self.ctx, self.cfg, self.rng
        county = self.township[:6]
        villages = ctx.villages_of[self.township]
        codes, cum = ctx.ethnic_mix(county)
        ids = IdAllocator(*ctx.id_block(self.township))
        households = build_township(
            rng,
            self.township,
            n_people,
            villages,
            ctx.age_model,
            codes,
            cum,
            ids,
            self.start,
            cfg.twin_share_of_births,
            pid_start=part * 1_000_000 // 1,
            hid_start=part * 1_000_000,
        )
        add_births(rng, households, ids, self.start, self.end, cfg.birth_rate, cfg.twin_share_of_births)
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
                p.hypertension = (
                    rng.random() < _by_age(ADULT_HT, age) * cfg.hypertension_prevalence_adult / 0.25
                )
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
            p.pid,
            p.name,
            "1" if p.male else "2",
            p.birth.isoformat(),
            p.id18,
            p.phone or "",
            p.village,
            p.household,
            p.relation,
            p.ethnicity,
            p.deceased.isoformat() if p.deceased else "",
            int(p.poverty),
            int(p.hypertension),
            int(p.diabetes),
            p.twin_of or "",
            p.mother_pid or "",
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
                    self.emit(
                        primary,
                        fx.related_person(self.nid("rp"), home_pat, p.relation, head.name, head.phone),
                        first_day,
                    )
            self.coverage_at(p, primary, home_pat, first_day)
            if p.poverty:
                self.emit(
                    primary,
                    fx.flag_poverty(self.nid("flag"), home_pat, primary.code, date(2016, 1, 1)),
                    first_day,
                )
            fd_share = (
                0.99
                if p.poverty
                else (0.8 if (p.hypertension or p.diabetes or age >= 65) else cfg.family_doctor_share * 0.8)
            )
            if rng.random() < fd_share:
                # a contract runs one year and is signed again when it ends (most are)
                s = self.rand_day(self.start - timedelta(days=300), self.start + timedelta(days=60))
                while s <= alive_until:
                    self.emit(
                        primary,
                        fx.care_team(
                            self.nid("ct"),
                            home_pat,
                            primary.code,
                            self.doctor(primary),
                            s,
                            s + timedelta(days=364),
                        ),
                        max(s, first_day),
                    )
                    s += timedelta(days=365)
                    if rng.random() >= cfg.family_doctor_renewal:
                        break
        self.chronic(p, primary, clinic, home_pat, alive_until)
        self.immunizations(p, primary, alive_until)
        for child in born_children:
            self.maternity(p, child, primary)
        self.outpatient(p, primary, clinic, first_day, alive_until, age)
        self.inpatient(p, primary, first_day, alive_until, age)
        # only where the platform can know of the death: the resident health record holds it
        if p.deceased and rng.random() < cfg.defects.encounter_after_death and home_pat:
            after = p.deceased + timedelta(days=rng.randint(5, 40))
            fac = clinic or primary
            pat = self.patient_at(p, fac, min(after, self.end))
            if pat:
                enc = fx.encounter(
                    self.nid("enc"),
                    pat,
                    fac.code,
                    "AMB",
                    self.when(after),
                    None,
                    self.doctor(fac),
                    "outpatient",
                    "门诊",
                )
                if self.emit(fac, enc, min(after, self.end)):
                    self.out.defects.append(
                        (f"Encounter/{enc['id']}", "encounter_after_death", f"death {p.deceased.isoformat()}")
                    )

    def apply_content_defects(self) -> None:
        from phip.synth.defects import inject

        inject(self.rng, self.cfg, self.out, self.nid)


def generate_chunk(ctx: ProvinceContext, township: str, part: int, n_people: int) -> ChunkResult:
    return ChunkGenerator(ctx, township, part).run(n_people, part)

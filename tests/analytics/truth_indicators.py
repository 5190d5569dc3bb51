"""Every indicator of the catalogue computed again from a synthetic province's own files, by its
written definition, in plain Python: the submissions the facilities sent (NDJSON), the registry
(facilities, population) and the truth of who is who (`truth/persons.csv`, `truth/people.csv`).

Nothing here reads the store, the lake, the person index or the catalogue's SQL, so a test that
compares the two finds a mistake in any of them: a view that drops a field, a join that loses
people, a period boundary, a numerator that is not part of its denominator. The person a record
belongs to is the truth's (on a province generated without identity defects the person index
must find the same persons); what the platform knows of a person (death, poverty, residence) is
what the facilities submitted.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from phip.standards import codesystems as cs

Key = tuple[str, str, str, str]  # (indicator, level, org unit, period)
LEVELS = {"province": 2, "prefecture": 4, "county": 6}
PRIMARY_CARE = ("primary", "village")


def _day(value: str | None) -> date | None:
    if not value or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _ext(res: dict[str, Any], url: str) -> Any:
    for e in res.get("extension") or []:
        if e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), None)
    return None


def _plus_months(d: date, months: int) -> date:
    """`d` plus whole months, on the last day of the month when it has fewer days (as SQL does)."""
    index = d.year * 12 + d.month - 1 + months
    year, month = index // 12, index % 12 + 1
    last = (date(year + (month == 12), 1 if month == 12 else month + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last))


def _ref_id(ref: dict[str, Any] | None) -> str | None:
    value = (ref or {}).get("reference") or ""
    return value.split("/", 1)[1] if "/" in value else None


def _code(concept: dict[str, Any] | None) -> str | None:
    for c in (concept or {}).get("coding") or []:
        return c.get("code")
    return None


@dataclass(frozen=True)
class Period:
    kind: str
    label: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def holds(self, d: date | None) -> bool:
        return d is not None and self.start <= d <= self.end


def periods(year: int) -> list[Period]:
    out = [Period("year", str(year), date(year, 1, 1), date(year, 12, 31))]
    for q in range(4):
        start = date(year, 3 * q + 1, 1)
        end = date(year + (q == 3), 1 if q == 3 else 3 * q + 4, 1) - timedelta(days=1)
        out.append(Period("quarter", f"{year}Q{q + 1}", start, end))
    return out


@dataclass
class Province:
    """A synthetic province's files, read once."""

    folder: Path
    facilities: dict[str, dict[str, str]] = field(default_factory=dict)
    population: list[dict[str, str]] = field(default_factory=list)
    person_of: dict[str, str] = field(default_factory=dict)  # Patient id → person
    township_of: dict[str, str] = field(default_factory=dict)  # person → township
    birth_of: dict[str, date] = field(default_factory=dict)  # person → birth date
    resources: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(list))
    owed: list[tuple[str, str]] = field(default_factory=list)  # (facility, month) batches owed

    @classmethod
    def read(cls, folder: Path) -> Province:
        p = cls(folder)
        with open(folder / "registry" / "facilities.csv", encoding="utf-8") as f:
            p.facilities = {r["code"]: r for r in csv.DictReader(f)}
        with open(folder / "registry" / "population.csv", encoding="utf-8") as f:
            p.population = list(csv.DictReader(f))
        with open(folder / "truth" / "expected_batches.csv", encoding="utf-8") as f:
            p.owed = [(r["facility"], r["month"]) for r in csv.DictReader(f)]
        with open(folder / "truth" / "persons.csv", encoding="utf-8") as f:
            p.person_of = {r["record"].split("/", 1)[1]: r["person_id"] for r in csv.DictReader(f)}
        with open(folder / "truth" / "people.csv", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                p.township_of[r["person_id"]] = r["village"][:9]
                p.birth_of[r["person_id"]] = date.fromisoformat(r["birth_date"])
        for path in sorted((folder / "submissions").glob("*/*.ndjson*")):
            opener: Any = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as f:
                for line in f:
                    res = orjson.loads(line)
                    p.resources[res["resourceType"]].append((path.parent.name, res))
        return p

    def of_type(self, rtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.resources.get(rtype, [])

    def person(self, ref: dict[str, Any] | None) -> str | None:
        pid = _ref_id(ref)
        return self.person_of.get(pid) if pid else None


class Reference:
    """numerator and denominator of every (indicator, level, org unit, period) cell."""

    def __init__(self, province: Province, year: int) -> None:
        self.p = province
        self.year = year
        self.periods = periods(year)
        self.cells: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self._people()

    # ---- what the facilities told the platform about people ---------------------------------
    def _people(self) -> None:
        p = self.p
        self.deceased: dict[str, date] = {}
        self.health_record: set[str] = set()
        self.poor: set[str] = set()
        self.known: set[str] = set()
        for fac, res in p.of_type("Patient"):
            person = p.person_of.get(res["id"])
            if person is None:
                continue
            self.known.add(person)
            died = _day(res.get("deceasedDateTime"))
            if died and (person not in self.deceased or died < self.deceased[person]):
                self.deceased[person] = died
            if p.facilities[fac]["tier"] in PRIMARY_CARE:
                self.health_record.add(person)
        for _fac, res in p.of_type("Flag"):
            if _code(res.get("code")) == "registered" and res.get("status", "active") == "active":
                person = p.person(res.get("subject"))
                if person:
                    self.poor.add(person)

    def alive_at(self, person: str, d: date) -> bool:
        died = self.deceased.get(person)
        return died is None or died >= d

    # ---- placing values in cells -------------------------------------------------------------
    def units(self, code: str) -> Iterator[tuple[str, str]]:
        for level, n in LEVELS.items():
            yield level, (code[:n] + "0" * (6 - n)) if n < 6 else code[:6]

    def add(self, indicator: str, unit_code: str, period: Period, num: float = 0.0, den: float = 0.0) -> None:
        for level, unit in self.units(unit_code):
            cell = self.cells[(indicator, level, unit, period.label)]
            cell[0] += num
            cell[1] += den

    def persons(
        self, indicator: str, num: dict[str, set[str]], den: dict[str, set[str]] | None, period: Period
    ) -> None:
        """Distinct persons per unit: `num`/`den` map a person to the set of townships they count in."""
        for side, sets in ((0, num), (1, den or {})):
            for level, n in LEVELS.items():
                per_unit: dict[str, set[str]] = defaultdict(set)
                for person, towns in sets.items():
                    for t in towns:
                        per_unit[t[:n] + "0" * (6 - n) if n < 6 else t[:6]].add(person)
                for unit, ps in per_unit.items():
                    self.cells[(indicator, level, unit, period.label)][side] += len(ps)

    def fac_unit(self, fac: str) -> str:
        return self.p.facilities[fac]["org_unit_code"]

    def town(self, person: str | None) -> str | None:
        return self.p.township_of.get(person) if person else None

    # ---- the catalogue ------------------------------------------------------------------------
    def compute(self) -> dict[Key, list[float]]:
        for period in self.periods:
            self.registry(period)
            self.submissions(period)
            self.population(period)
            self.records(period)
            self.immunisation(period)
            self.programmes(period)
            self.visits(period)
            self.money(period)
            self.resources(period)
        return self.cells

    def registry(self, period: Period) -> None:
        for _code, f in self.p.facilities.items():
            since = _day(f["connected_since"])
            connected = f["connected"] == "1" and (since is None or since <= period.end)
            self.add("facility_connection_rate", f["org_unit_code"], period, int(connected), 1)
            self.add("referral_facility_coverage", f["org_unit_code"], period, 0, 1)
        parties: set[str] = set()
        for _fac, res in self.p.of_type("ServiceRequest"):
            if not period.holds(_day(res.get("authoredOn"))):
                continue
            for ref in (res.get("supportingInfo") or [])[:1] + (res.get("performer") or [])[:1]:
                org = _ref_id(ref)
                if org in self.p.facilities:
                    parties.add(org)
        for org in parties:
            self.add("referral_facility_coverage", self.fac_unit(org), period, 1, 0)

    def submissions(self, period: Period) -> None:
        first: dict[tuple[str, str], str] = {}
        for rtype in self.p.resources:
            for _fac, res in self.p.of_type(rtype):
                source = res["meta"]["source"].rsplit(":", 2)
                batch = (source[1], source[2])
                sent = res["meta"]["lastUpdated"]
                if batch not in first or sent < first[batch]:
                    first[batch] = sent
        timely: dict[tuple[str, str], bool] = {}
        for (fac, month), sent in first.items():
            y, m = int(month[:4]), int(month[5:])
            deadline = date(y + (m == 12), 1 if m == 12 else m + 1, 10)
            timely[(fac, month)] = date.fromisoformat(sent[:10]) <= deadline
            if period.holds(date(y, m, 1)):
                self.add("submission_timeliness", self.fac_unit(fac), period, int(timely[(fac, month)]), 1)
        # every batch owed (the data is of a past year: all of them are due), received and on time
        for fac, month in self.p.owed:
            if not period.holds(date(int(month[:4]), int(month[5:]), 1)):
                continue
            got = (fac, month) in timely
            self.add("reporting_rate", self.fac_unit(fac), period, int(got), 1)
            self.add(
                "reporting_rate_on_time", self.fac_unit(fac), period, int(timely.get((fac, month), False)), 1
            )

    def population(self, period: Period) -> None:
        if period.kind != "year":
            return
        for r in self.p.population:
            if int(r["year"]) != self.year:
                continue
            n = int(r["residents"])
            for ind in (
                "ehr_filing_rate",
                "family_doctor_contract_rate",
                "doctors_per_1000",
                "beds_per_1000",
            ):
                self.add(ind, r["org_unit_code"], period, 0, n)

    def records(self, period: Period) -> None:
        town = self.town
        at_end = {p: {t} for p in self.health_record if (t := town(p)) and self.alive_at(p, period.end)}
        in_period = {p: {t} for p in self.health_record if (t := town(p)) and self.alive_at(p, period.start)}
        if period.kind == "year":
            self.persons("ehr_filing_rate", at_end, None, period)
        used: dict[str, set[str]] = {}
        for _fac, res in self.p.of_type("Encounter"):
            person = self.p.person(res.get("subject"))
            when = _day((res.get("period") or {}).get("start"))
            if (
                person in self.health_record
                and period.holds(when)
                and (t := town(person))
                and self.alive_at(person, when)  # type: ignore[arg-type]
            ):
                used[person] = {t}
        self.persons("ehr_use_rate", used, in_period, period)
        contracts: dict[str, set[str]] = {}
        for _fac, res in self.p.of_type("CareTeam"):
            cat = _code((res.get("category") or [{}])[0])
            if cat != "family-doctor" or res.get("status") in ("entered-in-error", "inactive"):
                continue
            start, end = _day(res["period"].get("start")), _day(res["period"].get("end"))
            person = self.p.person(res.get("subject"))
            valid = (start is None or start <= period.end) and (end is None or end >= period.end)
            if valid and person and (t := town(person)) and self.alive_at(person, period.end):
                contracts[person] = {t}
        poor_contracts = {p: t for p, t in contracts.items() if p in self.poor}
        poor = {p: {t} for p in self.poor if (t := town(p)) and self.alive_at(p, period.end)}
        self.persons("family_doctor_contract_rate_poverty", poor_contracts, poor, period)
        if period.kind == "year":
            self.persons("family_doctor_contract_rate", contracts, None, period)

    def immunisation(self, period: Period) -> None:
        """Children reaching 6 months in the period (alive that day), and those of them with a
        third hepatitis B dose recorded."""
        vaccinated = set()
        for _fac, res in self.p.of_type("Immunization"):
            dose = ((res.get("protocolApplied") or [{}])[0]).get("doseNumberPositiveInt")
            if res.get("status") == "completed" and _code(res.get("vaccineCode")) == "HepB" and dose == 3:
                vaccinated.add(self.p.person(res.get("patient")))
        due: dict[str, set[str]] = {}
        for person in self.known:
            born = self.p.birth_of.get(person)
            t = self.town(person)
            if born is None or t is None:
                continue
            day = _plus_months(born, 6)
            if period.holds(day) and self.alive_at(person, day):
                due[person] = {t}
        done = {p: t for p, t in due.items() if p in vaccinated}
        self.persons("child_hepb3_coverage", done, due, period)

    def programmes(self, period: Period) -> None:
        p, town = self.p, self.town
        enrolled: dict[str, dict[str, tuple[date | None, date | None]]] = defaultdict(dict)
        for _fac, res in p.of_type("EpisodeOfCare"):
            if res.get("status") in ("entered-in-error", "cancelled"):
                continue
            person = p.person(res.get("patient"))
            prog = _code((res.get("type") or [{}])[0])
            if person and prog:
                enrolled[prog][person] = (_day(res["period"].get("start")), _day(res["period"].get("end")))
        visits: dict[tuple[str, str], set[date]] = defaultdict(set)
        encounter_prog: dict[str, str] = {}
        for _fac, res in p.of_type("Encounter"):
            kind = _code((res.get("type") or [{}])[0]) or ""
            when = _day((res.get("period") or {}).get("start"))
            if kind.startswith("followup-"):
                encounter_prog[res["id"]] = kind[9:]
                person = p.person(res.get("subject"))
                if person and period.holds(when):
                    visits[(person, kind[9:])].add(when)  # type: ignore[arg-type]
        last: dict[tuple[str, str], tuple[str, str, bool]] = {}
        for _fac, res in p.of_type("Observation"):
            code = _code(res.get("code"))
            if code not in ("85354-9", "1558-6") or _ref_id(res.get("encounter")) not in encounter_prog:
                continue
            when = res.get("effectiveDateTime") or ""
            if not period.holds(_day(when)):
                continue
            if code == "85354-9":
                comps = {_code(c["code"]): c["valueQuantity"]["value"] for c in res["component"]}
                ok = comps["8480-6"] < 140 and comps["8462-4"] < 90
                prog = "hypertension"
            else:
                ok = res["valueQuantity"]["value"] < 7.0
                prog = "diabetes"
            person = p.person(res.get("subject"))
            if person is None:
                continue
            key = (person, prog)
            if key not in last or (when, res["id"]) > last[key][:2]:
                last[key] = (when, res["id"], ok)
        for prog in ("hypertension", "diabetes"):
            if period.kind == "year":
                den, std, ctl = {}, {}, {}
                for person in enrolled.get(prog, {}):
                    t = town(person)
                    days = visits.get((person, prog))
                    if not t or not days:
                        continue
                    den[person] = {t}
                    if len(days) >= 4:
                        std[person] = {t}
                    if last.get((person, prog), ("", "", False))[2]:
                        ctl[person] = {t}
                self.persons(f"{prog}_standard_management_rate", std, den, period)
                self.persons(f"{prog}_control_rate", ctl, den, period)
        if period.kind == "quarter":
            managed: dict[str, set[str]] = {}
            seen: dict[str, set[str]] = {}
            for prog, people in enrolled.items():
                for person, (start, end) in people.items():
                    t = town(person)
                    if not t:
                        continue
                    if not self.alive_at(person, period.end):
                        continue
                    if (start is None or start <= period.end) and (end is None or end >= period.end):
                        managed[person] = {t}
                    if visits.get((person, prog)):
                        seen[person] = {t}
            self.persons("followup_on_time_rate", seen, managed, period)

    def visits(self, period: Period) -> None:
        p = self.p
        fulfilled_at: dict[str, int] = defaultdict(int)
        for fac, res in p.of_type("Appointment"):
            when = _day(res.get("start") or res.get("created"))
            if res.get("status") == "fulfilled" and period.holds(when):
                fulfilled_at[fac] += 1
        for fac, n in fulfilled_at.items():
            self.add("appointment_share", self.fac_unit(fac), period, n, 0)
        self.encounter_class: dict[str, str] = {}
        for fac, res in p.of_type("Encounter"):
            cls = (res.get("class") or {}).get("code")
            self.encounter_class[res["id"]] = cls
            if res.get("status") in ("cancelled", "entered-in-error"):
                continue
            unit = self.fac_unit(fac)
            start = _day(res["period"].get("start"))
            end = _day(res["period"].get("end"))
            if period.holds(start):
                card = bool(_ext(res, cs.EXT_CARD_USED))
                self.add("ehealth_card_use_share", unit, period, int(card), 1)
                if cls in ("AMB", "EMER"):
                    self.add("outpatient_visits", unit, period, 1)
                if cls == "AMB" and p.facilities[fac]["tier"] == "hospital":
                    self.add("appointment_share", unit, period, 0, 1)
            if cls != "IMP":
                continue
            if end is not None and period.holds(end) and start is not None:
                self.add("inpatient_discharges", unit, period, 1)
                self.add("average_length_of_stay", unit, period, max(1, (end - start).days), 1)
            if start is not None and start <= period.end:
                last = min(end or period.end + timedelta(days=1), period.end + timedelta(days=1))
                occupied = (last - max(start, period.start)).days
                if occupied > 0:
                    self.add("bed_occupancy_rate", unit, period, occupied, 0)
        for _fac, res in p.of_type("ServiceRequest"):
            source = _ref_id((res.get("supportingInfo") or [None])[0])
            if source in p.facilities and period.holds(_day(res.get("authoredOn"))):
                direction = _code(res.get("code"))
                self.add(f"referrals_{direction}", self.fac_unit(source), period, 1)  # type: ignore[arg-type]
        for fac, res in p.of_type("MedicationRequest"):
            if res.get("status") in ("cancelled", "entered-in-error"):
                continue
            if period.holds(_day(res.get("authoredOn"))):
                e = bool(_ext(res, cs.EXT_EPRESCRIPTION))
                self.add("e_prescription_share", self.fac_unit(fac), period, int(e), 1)

    def money(self, period: Period) -> None:
        p = self.p
        per_visit: dict[tuple[str, str], list[Any]] = {}
        for fac, res in p.of_type("Claim"):
            created = res.get("created") or ""
            for item in res.get("item") or []:
                net = float(item["net"]["value"])
                if period.holds(_day(created)):
                    cat = _code(item.get("productOrService"))
                    self.add("drug_cost_share", self.fac_unit(fac), period, net if cat == "drug" else 0, net)
                enc = _ref_id((item.get("encounter") or [None])[0])
                if enc:
                    slot = per_visit.setdefault((fac, enc), [created, 0.0])
                    slot[0] = min(slot[0], created)
                    slot[1] += net
        for (fac, enc), (created, net) in per_visit.items():
            if not period.holds(_day(created)):
                continue
            cls = self.encounter_class.get(enc)
            if cls in ("AMB", "EMER"):
                self.add("outpatient_cost_per_visit", self.fac_unit(fac), period, net, 1)
            elif cls == "IMP":
                self.add("inpatient_cost_per_stay", self.fac_unit(fac), period, net, 1)
        for fac, res in p.of_type("ExplanationOfBenefit"):
            person = p.person(res.get("patient"))
            if person not in self.poor or not period.holds(_day(res.get("created"))):
                continue
            totals = {_code(t["category"]): float(t["amount"]["value"]) for t in res.get("total") or []}
            self.add(
                "poverty_reimbursement_ratio",
                self.fac_unit(fac),
                period,
                totals.get("benefit", 0.0),
                totals.get("submitted", 0.0),
            )

    def resources(self, period: Period) -> None:
        p = self.p
        beds_at: dict[str, int] = defaultdict(int)
        for fac, res in p.of_type("Location"):
            if res.get("status", "active") == "active":
                beds_at[fac] += int(_ext(res, cs.EXT_BED_COUNT) or 0)
        for fac, beds in beds_at.items():
            self.add("bed_occupancy_rate", self.fac_unit(fac), period, 0, beds * period.days)
            if period.kind == "year":
                self.add("beds_per_1000", self.fac_unit(fac), period, beds, 0)
        if period.kind == "year":
            doctors: dict[str, set[str]] = defaultdict(set)
            for fac, res in p.of_type("PractitionerRole"):
                if res.get("active", True) and _code((res.get("code") or [{}])[0]) == "doctor":
                    doctors[fac].add(_ref_id(res.get("practitioner")) or "")
            for fac, who in doctors.items():
                self.add("doctors_per_1000", self.fac_unit(fac), period, len(who), 0)


FACTORS = {"doctors_per_1000": 1000, "beds_per_1000": 1000}
COUNTS = {"referrals_up", "referrals_down", "outpatient_visits", "inpatient_discharges"}
RATIOS = {"average_length_of_stay", "outpatient_cost_per_visit", "inpatient_cost_per_stay"}


def value(indicator: str, num: float, den: float) -> float | None:
    """The cell's value by the catalogue's formula (numerator / denominator × factor)."""
    if indicator in COUNTS:
        return num
    if not den:
        return None
    factor = FACTORS.get(indicator, 1 if indicator in RATIOS else 100)
    return num / den * factor


def reference(folder: Path, year: int = 2025) -> dict[Key, list[float]]:
    return Reference(Province.read(folder), year).compute()

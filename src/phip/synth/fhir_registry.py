"""FHIR resources of the health-resources database a facility submits about itself:
Organization, Location (departments and beds), Practitioner, PractitionerRole, Schedule."""

from __future__ import annotations

import random
from collections.abc import Iterator

from phip.standards import codesystems as cs
from phip.standards import facility as ftypes
from phip.standards.divisions import Divisions
from phip.synth import names
from phip.synth.catalogues import HOSPITAL_DEPARTMENTS, PRIMARY_DEPARTMENTS, VILLAGE_DEPARTMENTS
from phip.synth.demography import largest_remainder
from phip.synth.fhir_common import Json, cc, day, ref, rid
from phip.synth.plan import PlannedFacility, default_doctors


def departments(f: PlannedFacility) -> list[tuple[str, str, str, float]]:
    if f.tier == "hospital":
        return HOSPITAL_DEPARTMENTS
    return PRIMARY_DEPARTMENTS if f.tier == "primary" else VILLAGE_DEPARTMENTS


def location_id(f: PlannedFacility, dept: str) -> str:
    return rid("loc", f.code, dept)


def schedule_id(f: PlannedFacility, dept: str) -> str:
    return rid("sch", f.code, dept)


def practitioner_id(f: PlannedFacility, n: int) -> str:
    return rid("pr", f.code, n)


def n_doctors(f: PlannedFacility) -> int:
    return f.doctors if f.doctors >= 0 else default_doctors(f.tier, f.staff)


def organization(f: PlannedFacility, divisions: Divisions) -> Json:
    county = divisions.get(f.county_code)
    pref = divisions.get(f.prefecture_code)
    res: Json = {
        "resourceType": "Organization",
        "id": f.code,
        "identifier": [{"system": cs.ID_FACILITY, "value": f.code}],
        "active": True,
        "type": ftypes.fhir_types(f.type_code),
        "name": f.name,
        "address": [
            {
                "use": "work",
                "text": divisions.full_name(
                    f.org_unit_code[:9] if len(f.org_unit_code) > 9 else f.org_unit_code
                ),
                "district": county.name if county else None,
                "city": pref.name if pref else None,
                "state": divisions.name(divisions.province),
                "country": "CN",
                "extension": [{"url": cs.EXT_DIVISION, "valueCode": f.org_unit_code}],
            }
        ],
        "extension": [],
    }
    res["address"][0] = {k: v for k, v in res["address"][0].items() if v is not None}
    if f.grade_code:
        res["extension"].append(
            {"url": cs.EXT_HOSPITAL_GRADE, "valueCoding": ftypes.grade_coding(f.grade_code)}
        )
    if f.connected_since:
        res["extension"].append({"url": cs.EXT_CONNECTED_SINCE, "valueDate": day(f.connected_since)})
    if not res["extension"]:
        del res["extension"]
    return res


def locations(f: PlannedFacility) -> Iterator[Json]:
    depts = departments(f)
    total = sum(d[3] for d in depts) or 1.0
    split = largest_remainder({code: f.beds * share / total for code, _zh, _en, share in depts})
    for code, zh, en, _share in depts:
        beds = split[code]
        yield {
            "resourceType": "Location",
            "id": location_id(f, code),
            "status": "active",
            "name": zh,
            "alias": [en],
            "mode": "instance",
            "type": [cc(cs.DEPARTMENT, code, zh)],
            "physicalType": cc(cs.LOCATION_PHYSICAL_TYPE, "wa" if beds else "ro", "Ward" if beds else "Room"),
            "managingOrganization": ref("Organization", f.code),
            "extension": [{"url": cs.EXT_BED_COUNT, "valueInteger": beds}],
        }


def staff(f: PlannedFacility) -> Iterator[Json]:
    """Practitioner and PractitionerRole for every staff member (doctors first, then nurses)."""
    rng = random.Random(rid("staff", f.code))
    depts = departments(f)
    docs = n_doctors(f)
    for n in range(f.staff):
        male = rng.random() < (0.55 if n < docs else 0.1)
        name = names.full_name(rng, male, "01")
        pid = practitioner_id(f, n)
        doctor = n < docs
        role = ("doctor", "医师") if doctor else ("nurse", "护士")
        if f.tier == "village":
            role = ("village-doctor", "乡村医生")
        yield {
            "resourceType": "Practitioner",
            "id": pid,
            "identifier": [
                {"system": cs.ID_PRACTITIONER, "value": f"{f.code[:6]}{rng.randrange(10**9):09d}"}
            ],
            "active": True,
            "name": [{"text": name, "family": names.surname_of(name), "given": [name[1:]]}],
            "gender": "male" if male else "female",
        }
        dept = depts[n % len(depts)]
        yield {
            "resourceType": "PractitionerRole",
            "id": rid("prr", f.code, n),
            "active": True,
            "practitioner": ref("Practitioner", pid),
            "organization": ref("Organization", f.code),
            "code": [cc(cs.PRACTITIONER_ROLE, role[0], role[1])],
            "specialty": [cc(cs.DEPARTMENT, dept[0], dept[1])],
            "location": [ref("Location", location_id(f, dept[0]))],
        }


def schedules(f: PlannedFacility) -> Iterator[Json]:
    if f.tier != "hospital":
        return
    for code, zh, _en, _share in departments(f):
        yield {
            "resourceType": "Schedule",
            "id": schedule_id(f, code),
            "active": True,
            "serviceType": [cc(cs.DEPARTMENT, code, zh)],
            "actor": [ref("Location", location_id(f, code)), ref("Organization", f.code)],
            "comment": f"{f.name}{zh}门诊",
        }

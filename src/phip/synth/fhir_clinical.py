"""Builders of the clinical, public-health and financial FHIR R4 resources facilities submit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from phip.standards import codesystems as cs
from phip.standards import ethnicity, sex
from phip.standards.icd10 import get_icd10
from phip.synth.catalogues import LOINC
from phip.synth.fhir_common import Json, cc, day, dt, money, qty, ref

_icd = get_icd10()


def patient(
    pid: str,
    facility: str,
    mrn: str,
    name: str,
    male: bool,
    birth: date,
    id_number: str | None,
    id_missing_marked: bool,
    phone: str | None,
    eth: str,
    address_text: str,
    village: str,
    county_name: str,
    pref_name: str,
    province_name: str,
    household: str | None,
    card: str | None,
    deceased: date | None,
) -> Json:
    identifiers: list[Json] = [
        {
            "use": "usual",
            "type": cc(cs.V2_IDENTIFIER_TYPE, "MR"),
            "system": f"{cs.ID_MRN}/{facility}",
            "value": mrn,
        }
    ]
    if id_number:
        identifiers.append(
            {
                "use": "official",
                "type": cc(cs.V2_IDENTIFIER_TYPE, "NI"),
                "system": cs.ID_RESIDENT,
                "value": id_number,
            }
        )
    if household:
        identifiers.append({"system": cs.ID_HOUSEHOLD, "value": household})
    if card:
        identifiers.append({"system": cs.ID_EHEALTH_CARD, "value": card})
    gb = "1" if male else "2"
    res: Json = {
        "resourceType": "Patient",
        "id": pid,
        "extension": [
            {
                "url": cs.EXT_ETHNICITY,
                "valueCoding": ethnicity.coding(eth)
                if eth in ethnicity.BY_CODE
                else {"system": cs.GB3304_ETHNICITY, "code": eth},
            },
            {"url": cs.EXT_GB_SEX, "valueCoding": sex.coding(gb)},
        ],
        "identifier": identifiers,
        "active": True,
        "name": [{"use": "official", "text": name}],
        "gender": sex.to_fhir(gb),
        "birthDate": day(birth),
        "address": [
            {
                "use": "home",
                "text": address_text,
                "district": county_name,
                "city": pref_name,
                "state": province_name,
                "country": "CN",
                "extension": [{"url": cs.EXT_DIVISION, "valueCode": village}],
            }
        ],
        "managingOrganization": ref("Organization", facility),
    }
    if id_missing_marked:
        res["extension"].append({"url": cs.EXT_ID_MISSING, "valueCode": "unknown"})
    if phone:
        res["telecom"] = [{"system": "phone", "value": phone, "use": "mobile"}]
    if deceased:
        res["deceasedDateTime"] = day(deceased)
    return res


def related_person(id_: str, patient_id: str, relation: str, head_name: str, phone: str | None) -> Json:
    res: Json = {
        "resourceType": "RelatedPerson",
        "id": id_,
        "active": True,
        "patient": ref("Patient", patient_id),
        "relationship": [cc(cs.V3_ROLE_CODE, relation)],
        "name": [{"text": head_name}],
    }
    if phone:
        res["telecom"] = [{"system": "phone", "value": phone}]
    return res


def coverage(
    id_: str, patient_id: str, kind: str, kind_zh: str, start: date, payor: str, subscriber: str
) -> Json:
    return {
        "resourceType": "Coverage",
        "id": id_,
        "status": "active",
        "type": cc(cs.INSURANCE_TYPE, kind, kind_zh),
        "subscriberId": subscriber,
        "beneficiary": ref("Patient", patient_id),
        "period": {"start": day(start)},
        "payor": [{"display": payor}],
    }


def flag_poverty(id_: str, patient_id: str, facility: str, start: date) -> Json:
    return {
        "resourceType": "Flag",
        "id": id_,
        "status": "active",
        "category": [cc("http://terminology.hl7.org/CodeSystem/flag-category", "admin", "Administrative")],
        "code": cc(cs.POVERTY_STATUS, "registered", "建档立卡贫困户", "建档立卡贫困户"),
        "subject": ref("Patient", patient_id),
        "period": {"start": day(start)},
        "author": ref("Organization", facility),
    }


def care_team(id_: str, patient_id: str, facility: str, practitioner: str, start: date, end: date) -> Json:
    return {
        "resourceType": "CareTeam",
        "id": id_,
        "status": "active",
        "category": [cc(cs.cs("care-team-category"), "family-doctor", "家庭医生签约服务")],
        "name": "家庭医生团队",
        "subject": ref("Patient", patient_id),
        "period": {"start": day(start), "end": day(end)},
        "participant": [
            {
                "role": [cc(cs.PRACTITIONER_ROLE, "family-doctor", "家庭医生")],
                "member": ref("Practitioner", practitioner),
            }
        ],
        "managingOrganization": [ref("Organization", facility)],
    }


def episode(id_: str, patient_id: str, facility: str, kind: str, kind_zh: str, start: date) -> Json:
    return {
        "resourceType": "EpisodeOfCare",
        "id": id_,
        "status": "active",
        "type": [cc(cs.CHRONIC_PROGRAMME, kind, kind_zh)],
        "patient": ref("Patient", patient_id),
        "managingOrganization": ref("Organization", facility),
        "period": {"start": day(start)},
    }


def encounter(
    id_: str,
    patient_id: str,
    facility: str,
    cls: str,
    start: datetime,
    end: datetime | None,
    practitioner: str | None,
    type_code: str,
    type_zh: str,
    location: str | None = None,
) -> Json:
    names = {"AMB": "ambulatory", "IMP": "inpatient encounter", "EMER": "emergency", "HH": "home health"}
    res: Json = {
        "resourceType": "Encounter",
        "id": id_,
        "status": "finished",
        "class": {"system": cs.V3_ACT_CODE, "code": cls, "display": names[cls]},
        "type": [cc(cs.cs("encounter-type"), type_code, type_zh)],
        "subject": ref("Patient", patient_id),
        "period": {"start": dt(start)} | ({"end": dt(end)} if end else {}),
        "serviceProvider": ref("Organization", facility),
    }
    if practitioner:
        res["participant"] = [{"individual": ref("Practitioner", practitioner)}]
    if location:
        res["location"] = [{"location": ref("Location", location)}]
    return res


def condition(
    id_: str, patient_id: str, code: str, when: datetime, encounter_id: str | None, category: str
) -> Json:
    res: Json = {
        "resourceType": "Condition",
        "id": id_,
        "clinicalStatus": cc(cs.CONDITION_CLINICAL, "active"),
        "verificationStatus": cc(cs.CONDITION_VERIFICATION, "confirmed"),
        "category": [cc(cs.CONDITION_CATEGORY, category)],
        "code": {"coding": [_icd.coding(code)], "text": _icd.name(code) or code},
        "subject": ref("Patient", patient_id),
        "onsetDateTime": dt(when),
        "recordedDate": dt(when),
    }
    if encounter_id:
        res["encounter"] = ref("Encounter", encounter_id)
    return res


def observation(
    id_: str, patient_id: str, encounter_id: str | None, key: str, value: float, when: datetime, category: str
) -> Json:
    code, zh, en, unit = LOINC[key]
    res: Json = {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "category": [cc(cs.OBS_CATEGORY, category)],
        "code": {"coding": [{"system": cs.LOINC, "code": code, "display": en}], "text": zh},
        "subject": ref("Patient", patient_id),
        "effectiveDateTime": dt(when),
        "valueQuantity": qty(value, unit),
    }
    if encounter_id:
        res["encounter"] = ref("Encounter", encounter_id)
    return res


def blood_pressure(
    id_: str, patient_id: str, encounter_id: str | None, sbp: int, dbp: int, when: datetime
) -> Json:
    code, zh, en, _ = LOINC["bp"]
    comps = []
    for key, v in (("sbp", sbp), ("dbp", dbp)):
        c, czh, cen, unit = LOINC[key]
        comps.append(
            {
                "code": {"coding": [{"system": cs.LOINC, "code": c, "display": cen}], "text": czh},
                "valueQuantity": qty(v, unit),
            }
        )
    res: Json = {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "category": [cc(cs.OBS_CATEGORY, "vital-signs")],
        "code": {"coding": [{"system": cs.LOINC, "code": code, "display": en}], "text": zh},
        "subject": ref("Patient", patient_id),
        "effectiveDateTime": dt(when),
        "component": comps,
    }
    if encounter_id:
        res["encounter"] = ref("Encounter", encounter_id)
    return res


def medication_request(
    id_: str,
    patient_id: str,
    encounter_id: str,
    practitioner: str | None,
    drug: tuple[Any, ...],
    when: datetime,
    quantity: int,
    eprescription: bool,
) -> Json:
    atc, zh, en, _price, _dx = drug
    system = cs.ATC if not atc.startswith("TCM") else cs.DRUG
    res: Json = {
        "resourceType": "MedicationRequest",
        "id": id_,
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": system, "code": atc, "display": en}], "text": zh},
        "subject": ref("Patient", patient_id),
        "encounter": ref("Encounter", encounter_id),
        "authoredOn": dt(when),
        "dosageInstruction": [{"text": "遵医嘱"}],
        "dispenseRequest": {"quantity": {"value": quantity, "unit": "盒"}},
    }
    if practitioner:
        res["requester"] = ref("Practitioner", practitioner)
    if eprescription:
        res["extension"] = [{"url": cs.EXT_EPRESCRIPTION, "valueBoolean": True}]
    return res


def medication_dispense(
    id_: str,
    patient_id: str,
    request_id: str,
    drug: tuple[Any, ...],
    when: datetime,
    quantity: int,
    facility: str,
) -> Json:
    atc, zh, en, _price, _dx = drug
    system = cs.ATC if not atc.startswith("TCM") else cs.DRUG
    return {
        "resourceType": "MedicationDispense",
        "id": id_,
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": system, "code": atc, "display": en}], "text": zh},
        "subject": ref("Patient", patient_id),
        "authorizingPrescription": [ref("MedicationRequest", request_id)],
        "performer": [{"actor": ref("Organization", facility)}],
        "quantity": {"value": quantity, "unit": "盒"},
        "whenHandedOver": dt(when),
    }


def procedure(id_: str, patient_id: str, encounter_id: str, code: str, zh: str, when: datetime) -> Json:
    return {
        "resourceType": "Procedure",
        "id": id_,
        "status": "completed",
        "code": cc(cs.ICD9CM3_CN, code, zh, zh),
        "subject": ref("Patient", patient_id),
        "encounter": ref("Encounter", encounter_id),
        "performedDateTime": dt(when),
    }


def immunization(
    id_: str, patient_id: str, facility: str, vaccine: tuple[Any, ...], dose: int, when: datetime
) -> Json:
    code, zh, en, cvx, _ages = vaccine
    codings = [{"system": cs.VACCINE_NIP, "code": code, "display": zh}]
    if cvx:
        codings.append({"system": cs.CVX, "code": cvx, "display": en})
    return {
        "resourceType": "Immunization",
        "id": id_,
        "status": "completed",
        "vaccineCode": {"coding": codings, "text": zh},
        "patient": ref("Patient", patient_id),
        "occurrenceDateTime": dt(when),
        "primarySource": True,
        "performer": [{"actor": ref("Organization", facility)}],
        "protocolApplied": [{"doseNumberPositiveInt": dose}],
    }


def service_request(
    id_: str,
    patient_id: str,
    requester: str | None,
    source: str,
    target: str,
    direction: str,
    dx: str,
    when: datetime,
) -> Json:
    zh = "上转" if direction == "up" else "下转"
    res: Json = {
        "resourceType": "ServiceRequest",
        "id": id_,
        "status": "completed",
        "intent": "order",
        "category": [cc(cs.SNOMED, "3457005", "Patient referral", "转诊")],
        "code": cc(cs.cs("referral-direction"), direction, zh, zh),
        "subject": ref("Patient", patient_id),
        "authoredOn": dt(when),
        "performer": [ref("Organization", target)],
        "reasonCode": [{"coding": [_icd.coding(dx)]}],
        "supportingInfo": [ref("Organization", source)],
    }
    if requester:
        res["requester"] = ref("Practitioner", requester)
    return res


def slot(id_: str, schedule: str, start: datetime, end: datetime) -> Json:
    return {
        "resourceType": "Slot",
        "id": id_,
        "schedule": ref("Schedule", schedule),
        "status": "busy",
        "start": dt(start),
        "end": dt(end),
    }


def appointment(
    id_: str,
    patient_id: str,
    practitioner: str | None,
    slot_id: str,
    start: datetime,
    end: datetime,
    status: str,
    booked: datetime,
) -> Json:
    participants = [{"actor": ref("Patient", patient_id), "status": "accepted"}]
    if practitioner:
        participants.append({"actor": ref("Practitioner", practitioner), "status": "accepted"})
    return {
        "resourceType": "Appointment",
        "id": id_,
        "status": status,
        "slot": [ref("Slot", slot_id)],
        "start": dt(start),
        "end": dt(end),
        "created": day(booked.date()),
        "participant": participants,
    }


def claim(
    id_: str,
    patient_id: str,
    facility: str,
    encounter_id: str,
    coverage_id: str,
    when: datetime,
    drug_cost: float,
    service_cost: float,
    inpatient: bool,
) -> Json:
    return {
        "resourceType": "Claim",
        "id": id_,
        "status": "active",
        "type": cc(cs.CLAIM_TYPE, "institutional" if inpatient else "professional"),
        "use": "claim",
        "patient": ref("Patient", patient_id),
        "created": dt(when),
        "provider": ref("Organization", facility),
        "priority": cc("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "insurance": [{"sequence": 1, "focal": True, "coverage": ref("Coverage", coverage_id)}],
        "item": [
            {
                "sequence": 1,
                "productOrService": cc(cs.cs("charge-category"), "drug", "药品费"),
                "net": money(drug_cost),
                "encounter": [ref("Encounter", encounter_id)],
            },
            {
                "sequence": 2,
                "productOrService": cc(cs.cs("charge-category"), "service", "医疗服务费"),
                "net": money(service_cost),
                "encounter": [ref("Encounter", encounter_id)],
            },
        ],
        "total": money(drug_cost + service_cost),
    }


def eob(
    id_: str,
    patient_id: str,
    facility: str,
    claim_id: str,
    coverage_id: str,
    when: datetime,
    total: float,
    funds: dict[str, float],
    insurer: str,
) -> Json:
    paid = sum(funds.values())
    fund_names = {"basic": "基本医疗保险", "critical": "大病保险", "assistance": "医疗救助"}
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": id_,
        "status": "active",
        "type": cc(cs.CLAIM_TYPE, "institutional"),
        "use": "claim",
        "patient": ref("Patient", patient_id),
        "created": dt(when),
        "insurer": {"display": insurer},
        "provider": ref("Organization", facility),
        "claim": ref("Claim", claim_id),
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": ref("Coverage", coverage_id)}],
        "adjudication": [
            {"category": cc(cs.cs("insurance-fund"), k, fund_names[k]), "amount": money(v)}
            for k, v in funds.items()
            if v > 0
        ],
        "total": [
            {"category": cc(cs.ADJUDICATION, "submitted"), "amount": money(total)},
            {"category": cc(cs.ADJUDICATION, "benefit"), "amount": money(paid)},
        ],
        "payment": {"amount": money(paid)},
    }

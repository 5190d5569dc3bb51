"""The platform profile: rules beyond FHIR structure that every submitted record must meet.

- Patient: resident identity numbers (system `…/sid/resident-id`) are valid GB 11643 numbers
  (18 digits, or the legacy 15); a Patient without one carries the `resident-id-missing`
  extension; gender is an administrative-gender code; the ethnicity extension is GB/T 3304.
- Coded elements in platform value sets: ICD-10 (WHO or national edition) on Condition and
  Encounter diagnoses; WS 218 facility types on Organization; GB/T 2261.1 sex in the extension.
- Required elements per type (the WS 365 / WS 445 basic data sets as far as they map).
- ids are at most 64 characters (the FHIR limit).
Each problem is (code, path, detail); codes are stable and machine-readable. Codes in
`WARNINGS` do not quarantine a record (the quality rules report them per facility).
"""

from __future__ import annotations

from typing import Any

from phip.standards import codesystems as cs
from phip.standards import ethnicity, facility, sex, vaccines
from phip.standards.divisions import default_checker
from phip.standards.icd10 import get_icd10
from phip.standards.idcard import normalize

Issue = tuple[str, str, str]

#: Findings that are reported but do not stop a record: an unmarked missing identity number is a
#: completeness problem of the facility (quality rule), not a malformed record.
WARNINGS = frozenset({"profile:resident-id-missing"})

GENDERS = frozenset({"male", "female", "other", "unknown"})
ICD_SYSTEMS = frozenset({cs.ICD10_WHO, cs.ICD10_CN, "http://hl7.org/fhir/sid/icd-10-cn"})

#: element → one of these must be present (a tuple lists alternatives)
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "Patient": (("name",), ("gender",), ("birthDate",)),
    "Encounter": (("period",), ("subject",)),
    "Condition": (("code",), ("subject",)),
    "Observation": (
        ("subject",),
        ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "effectiveTiming"),
        (
            "valueQuantity",
            "valueCodeableConcept",
            "valueString",
            "valueBoolean",
            "valueInteger",
            "valueRange",
            "valueRatio",
            "valueSampledData",
            "valueTime",
            "valueDateTime",
            "valuePeriod",
            "component",
            "dataAbsentReason",
            "hasMember",
        ),
    ),
    "MedicationRequest": (("authoredOn",),),
    "Immunization": (("occurrenceDateTime", "occurrenceString"),),
    "Procedure": (("code",),),
    "Organization": (("name",),),
}


def check(res: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    rtype = res.get("resourceType", "")
    rid = res.get("id")
    if isinstance(rid, str) and len(rid) > 64:
        issues.append(("profile:id-too-long", f"{rtype}.id", "ids are at most 64 characters"))
    for alternatives in REQUIRED.get(rtype, ()):
        if not any(res.get(k) not in (None, [], {}, "") for k in alternatives):
            issues.append(
                (
                    "profile:required",
                    f"{rtype}.{alternatives[0]}",
                    f"{rtype}.{'|'.join(alternatives)} is required",
                )
            )
    if rtype == "Patient":
        _patient(res, issues)
    elif rtype == "Condition":
        _icd(res.get("code"), f"{rtype}.code", issues)
    elif rtype == "Immunization":
        for i, c in enumerate((res.get("vaccineCode") or {}).get("coding") or []):
            if (
                isinstance(c, dict)
                and c.get("system") == cs.VACCINE_NIP
                and not vaccines.is_valid(c.get("code"))
            ):
                issues.append(
                    (
                        "profile:invalid-code",
                        f"Immunization.vaccineCode.coding[{i}]",
                        f"{c.get('code')!r} is not a national immunisation programme vaccine",
                    )
                )
    elif rtype == "Organization":
        for i, t in enumerate(res.get("type") or []):
            for c in (t or {}).get("coding") or []:
                if c.get("system") == cs.WS218_FACILITY_TYPE and not facility.is_valid_type(c.get("code")):
                    issues.append(
                        (
                            "profile:invalid-code",
                            f"Organization.type[{i}]",
                            f"unknown facility type {c.get('code')!r}",
                        )
                    )
    return issues


def _icd(concept: Any, path: str, issues: list[Issue]) -> None:
    if not isinstance(concept, dict):
        return
    icd = get_icd10()
    for i, c in enumerate(concept.get("coding") or []):
        if isinstance(c, dict) and c.get("system") in ICD_SYSTEMS:
            result = icd.check(c.get("code"))
            if not result.valid:
                issues.append(
                    (
                        "profile:invalid-code",
                        f"{path}.coding[{i}]",
                        f"ICD-10 code {c.get('code')!r} is not valid ({result.reason})",
                    )
                )


def _patient(res: dict[str, Any], issues: list[Issue]) -> None:
    checker = default_checker()
    resident_ids = [
        (i, ident)
        for i, ident in enumerate(res.get("identifier") or [])
        if isinstance(ident, dict) and ident.get("system") == cs.ID_RESIDENT
    ]
    for i, ident in resident_ids:
        result = checker.validate(normalize(ident.get("value")))
        if not result.valid:
            issues.append(
                (
                    "profile:resident-id",
                    f"Patient.identifier[{i}]",
                    f"not a valid GB 11643 identity number ({result.reason})",
                )
            )
    marked = any(
        isinstance(e, dict) and e.get("url") == cs.EXT_ID_MISSING for e in res.get("extension") or []
    )
    if not resident_ids and not marked:
        issues.append(
            (
                "profile:resident-id-missing",
                "Patient.identifier",
                "no resident identity number and not marked missing (extension resident-id-missing)",
            )
        )
    gender = res.get("gender")
    if gender is not None and gender not in GENDERS:
        issues.append(
            ("profile:invalid-code", "Patient.gender", f"{gender!r} is not an administrative-gender code")
        )
    for e in res.get("extension") or []:
        if not isinstance(e, dict):
            continue
        coding = e.get("valueCoding") or {}
        if e.get("url") == cs.EXT_ETHNICITY and not ethnicity.is_valid(coding.get("code")):
            issues.append(
                (
                    "profile:invalid-code",
                    "Patient.extension(ethnicity)",
                    f"{coding.get('code')!r} is not a GB/T 3304 code",
                )
            )
        if e.get("url") == cs.EXT_GB_SEX and not sex.is_valid(coding.get("code")):
            issues.append(
                (
                    "profile:invalid-code",
                    "Patient.extension(gb-sex)",
                    f"{coding.get('code')!r} is not a GB/T 2261.1 code",
                )
            )

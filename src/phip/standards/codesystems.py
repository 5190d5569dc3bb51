"""Canonical URIs of the code systems and identifier systems the platform uses.

International systems use their official URIs; Chinese national standards that have no
registered FHIR URI get a platform URI under the configured canonical base (`PHIP_FHIR_BASE`).
"""

from __future__ import annotations

BASE = "https://phip.health/fhir"


def cs(name: str) -> str:
    return f"{BASE}/CodeSystem/{name}"


def sid(name: str) -> str:
    return f"{BASE}/sid/{name}"


def ext(name: str) -> str:
    return f"{BASE}/StructureDefinition/{name}"


# National standards (platform URIs)
GB2261_SEX = cs("gb-t-2261.1-sex")
GB3304_ETHNICITY = cs("gb-t-3304-ethnicity")
GB2260_DIVISION = cs("gb-t-2260-division")
WS218_FACILITY_TYPE = cs("ws-218-facility-type")
HOSPITAL_GRADE = cs("hospital-grade")
ICD10_CN = cs("icd-10-cn")  # national clinical edition 2.0 (6-character codes)
ICD9CM3_CN = cs("icd-9-cm-3-cn")
VACCINE_NIP = cs("nip-vaccine")
DRUG = cs("drug")
INSURANCE_TYPE = cs("insurance-type")
POVERTY_STATUS = cs("poverty-status")
DEPARTMENT = cs("department")
PRACTITIONER_ROLE = cs("practitioner-role")
CHRONIC_PROGRAMME = cs("chronic-programme")

# International systems
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"
ADMIN_GENDER = "http://hl7.org/fhir/administrative-gender"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
COVERAGE_TYPE = V3_ACT_CODE
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
SNOMED = "http://snomed.info/sct"

# Identifier systems
ID_RESIDENT = sid("resident-id")  # GB 11643 citizen identity number
ID_FACILITY = sid("facility")  # platform facility code
ID_MRN = sid("mrn")  # suffixed by facility: f"{ID_MRN}/{facility}"
ID_HOUSEHOLD = sid("household")
ID_EHEALTH_CARD = sid("ehealth-card")
ID_PRACTITIONER = sid("practitioner-licence")

# Extensions
EXT_ETHNICITY = ext("ethnicity")
EXT_GB_SEX = ext("gb-sex")
EXT_DIVISION = ext("division-code")
EXT_HOSPITAL_GRADE = ext("hospital-grade")
EXT_BED_COUNT = ext("bed-count")
EXT_CARD_USED = ext("ehealth-card-used")
EXT_ID_MISSING = ext("resident-id-missing")
EXT_CONNECTED_SINCE = ext("platform-connected-since")
EXT_EPRESCRIPTION = ext("e-prescription")

"""The CapabilityStatement, built from what is implemented (types, interactions, search params)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from phip import __version__
from phip.store.search_params import COMMON, GENERIC, PARAMS

INTERACTIONS = [
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
TYPE_MAP = {
    "token": "token",
    "division": "token",
    "reference": "reference",
    "date": "date",
    "string": "string",
}


@lru_cache(maxsize=1)
def capability_statement() -> dict[str, Any]:
    resources = []
    for rtype in sorted(
        {
            *PARAMS,
            "Basic",
            "DiagnosticReport",
            "DocumentReference",
            "AllergyIntolerance",
            "CarePlan",
            "Goal",
            "Device",
            "Medication",
            "MedicationAdministration",
            "ImagingStudy",
        }
    ):
        params = COMMON + PARAMS.get(rtype, GENERIC)
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": c} for c in INTERACTIONS],
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalUpdate": True,
            "conditionalDelete": "not-supported",
            "searchInclude": [f"{rtype}:{p.name}" for p in params if p.type == "reference"],
            "searchParam": [{"name": p.name, "type": TYPE_MAP[p.type]} for p in params],
        }
        if rtype == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "kind": "instance",
        "software": {"name": "PHIP", "version": __version__},
        "implementation": {"description": "PHIP FHIR R4 server"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "OAuth2 bearer tokens: client credentials for facility "
                    "systems (/api/auth/token), login for staff (/api/auth/login)",
                },
                "resource": resources,
                "interaction": [{"code": "history-system"}],
            }
        ],
    }

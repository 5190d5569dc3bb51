"""What a submission is made of: the NDJSON (plain or gzip) and JSON files under a path that
hold FHIR resources, in dependency order of their resource type, and their records (a Bundle
file becomes its entries' resources)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from phip.fhir import ndjson

TYPE_ORDER = [
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "HealthcareService",
    "Schedule",
    "Group",
    "Patient",
    "RelatedPerson",
    "Coverage",
    "Flag",
    "CareTeam",
    "EpisodeOfCare",
    "Slot",
    "ServiceRequest",
    "Appointment",
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "DiagnosticReport",
    "Procedure",
    "Medication",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "Immunization",
    "DocumentReference",
    "CarePlan",
    "Goal",
    "ImagingStudy",
    "Device",
    "Claim",
    "ExplanationOfBenefit",
]
RANK = {t: i for i, t in enumerate(TYPE_ORDER)}

#: a record that starts `{"resourceType":"X","id":"Y",` (ids and type names need no escapes;
#: a Bundle is excluded because its entries are the records)
HEAD = re.compile(rb'\{"resourceType":"(?!Bundle")([A-Za-z]+)","id":"([A-Za-z0-9.\-]{1,64})"[,}]')


def is_fhir_file(path: Path) -> bool:
    """False for NDJSON/JSON files that hold no FHIR resources (a bulk export's `log.ndjson`,
    a manifest): their first record has no resourceType. Unparseable files count as FHIR, so
    that their records are quarantined rather than skipped."""
    try:
        with open(path, "rb") if path.suffix == ".json" else ndjson.open_ndjson(path) as f:
            head = f.read(1 << 20) if path.suffix == ".json" else next((ln for ln in f if ln.strip()), b"")
    except OSError:
        return True
    try:
        obj = orjson.loads(head)
    except orjson.JSONDecodeError:
        return True
    return not isinstance(obj, dict) or "resourceType" in obj


def discover(path: Path) -> list[Path]:
    """NDJSON (plain or gzip: `.ndjson.gz`) and JSON files under `path` that hold FHIR
    resources, in dependency order of their resource type."""
    if path.is_file():
        return [path]
    files = [
        p
        for p in path.rglob("*")
        if p.is_file()
        and (p.suffix == ".json" or ndjson.is_ndjson(p))
        and p.name != "manifest.json"
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and is_fhir_file(p)
    ]

    def key(p: Path) -> tuple[int, str]:
        stem = p.name.split(".")[0]
        return RANK.get(stem, len(RANK)), str(p)

    return sorted(files, key=key)


def records(path: Path, start: int) -> Iterator[tuple[int, int, bytes]]:
    """(line number, end offset, raw bytes) from byte `start`; a .json file is one record (a
    Bundle's entries are expanded by the caller)."""
    if path.suffix == ".json":
        if start == 0:
            data = path.read_bytes()
            yield 1, len(data), data
        return
    with ndjson.open_ndjson(path) as f:
        f.seek(start)  # a gzip file's offsets are those of its uncompressed lines
        offset = start
        for n, line in enumerate(f, start=1):
            offset += len(line)
            if line.strip():
                yield n, offset, line.rstrip(b"\r\n")


def expand(raw: bytes) -> list[tuple[bytes, Any]]:
    """A Bundle file becomes its entries' resources; anything else is itself."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return [(raw, None)]
    if (
        isinstance(obj, dict)
        and obj.get("resourceType") == "Bundle"
        and obj.get("type") in ("collection", "batch", "transaction", "searchset", "history")
    ):
        out = []
        for e in obj.get("entry") or []:
            res = (e or {}).get("resource")
            if res is not None:
                out.append((orjson.dumps(res), res))
        return out
    return [(raw, obj)]


def count_records(path: Path) -> int:
    """Lines to import (for a progress bar)."""
    n = 0
    for f in discover(path):
        if f.suffix == ".json":
            n += 1
        else:
            n += sum(1 for _ in ndjson.lines(f))
    return n

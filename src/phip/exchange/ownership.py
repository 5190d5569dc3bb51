"""Who owns a submitted record, and what a submitter may refer to.

A record belongs to the calling facility when there is one, else to the registered facility
whose drop folder holds the file; `meta.source` is only the submitter's claim, checked against
the owner. A reference resolves to another facility's record only for the shared directory
types (organisations, practitioners…): whether another facility holds some Patient is not for
the submitter to learn.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from phip.store.bulkwrite import key_clause
from phip.store.models import Resource

SOURCE_PREFIX = "urn:phip:submission:"
#: directory resources any facility may refer to, whoever registered them; every other type
#: (a Patient and what hangs from it) resolves only within the writer's own records
SHARED_TYPES = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "HealthcareService",
    "Endpoint",
    "Medication",
    "Substance",
    "Device",
    "CodeSystem",
    "ValueSet",
    "Questionnaire",
    "PlanDefinition",
    "ActivityDefinition",
    "Library",
    "Measure",
)


def facility_of(folder: str, caller: str | None, registered: Container[str]) -> str | None:
    """Who owns a submitted record: the calling facility when there is one (an API client, or
    `phip ingest --facility`), else the registered facility whose drop folder holds the file.
    Never the payload: `meta.source` is the submitter's claim, checked against the owner."""
    if caller is not None:
        return caller
    return folder if folder in registered else None


def claimed_facility(res: dict[str, Any]) -> str | None:
    """The facility a record's `meta.source` names (`urn:phip:submission:<facility>:…`)."""
    meta = res.get("meta")
    src = meta.get("source") if isinstance(meta, dict) else None
    if isinstance(src, str) and src.startswith(SOURCE_PREFIX):
        return src[len(SOURCE_PREFIX) :].split(":")[0]
    return None


def existing(session: Session, refs: list[str], caller: str | None) -> set[str]:
    """The referenced records (`Type/id`) that exist and `caller` may resolve: its own, and
    other facilities' only for the shared directory types."""
    keys = [(r.split("/", 1)[0], r.split("/", 1)[1]) for r in refs]
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        q = select(Resource.res_type, Resource.res_id).where(
            key_clause(Resource.res_type, Resource.res_id, keys[i : i + 500]),
            Resource.deleted.is_(False),
        )
        if caller is not None:
            q = q.where(or_(Resource.res_type.in_(SHARED_TYPES), Resource.facility == caller))
        found.update(f"{t}/{i_}" for t, i_ in session.execute(q))
    return found

"""Single-resource validation and writes for the FHIR API (the same rules as bulk import)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.exchange import profile, structure
from phip.exchange.ingest import local_ref, references
from phip.store.bulkwrite import key_clause
from phip.store.models import Resource

Issue = tuple[str, str, str]


def validate(session: Session, obj: Any, known: set[str] | None = None) -> list[Issue]:
    """Structure, platform profile (errors only) and references (to `known` ids or the store)."""
    issues = [(f"structure:{c}", p, d) for c, p, d in structure.validate_resource(obj)]
    if issues:
        return issues
    issues = [i for i in profile.check(obj) if i[0] not in profile.WARNINGS]
    targets = []
    for ref in references(orjson.dumps(obj)):
        local = local_ref(ref)
        if local is None or (known is not None and local in known):
            continue
        if local.startswith("urn:") or "/" not in local:
            issues.append(("reference:unresolved", "reference", f"{ref} cannot be resolved"))
            continue
        rtype_, rid_ = local.split("/", 1)
        targets.append((rtype_, rid_))
    if targets:
        found = {
            f"{t}/{i}"
            for t, i in session.execute(
                select(Resource.res_type, Resource.res_id).where(
                    key_clause(Resource.res_type, Resource.res_id, targets), Resource.deleted.is_(False)
                )
            )
        }
        for t, i in targets:
            if f"{t}/{i}" not in found:
                issues.append(("reference:unresolved", "reference", f"{t}/{i} is not in the store"))
    return issues


def owner(session: Session, rtype: str, rid: str) -> tuple[bool, str | None]:
    """(exists, owning facility) regardless of the caller's scope."""
    row = session.execute(
        select(Resource.facility).where(Resource.res_type == rtype, Resource.res_id == rid)
    ).first()
    return (row is not None, row[0] if row else None)

"""Single-resource validation and writes for the FHIR API (the same rules as bulk import)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from phip.exchange import profile, structure
from phip.exchange.ownership import SHARED_TYPES, claimed_facility
from phip.fhir.references import local_ref, references
from phip.store.bulkwrite import key_clause
from phip.store.models import Resource
from phip.store.repository import Scope

Issue = tuple[str, str, str]


def validate(
    session: Session,
    obj: Any,
    known: set[str] | None = None,
    scope: Scope | None = None,
    facility: str | None = None,
) -> list[Issue]:
    """Structure, platform profile (errors only) and references (to `known` ids or the store).
    With a writer's `scope`, references to anything but shared directory types resolve only
    within it (a record out of scope reads as missing: no existence oracle); with its
    `facility`, a `meta.source` naming another facility is refused."""
    issues = [(f"structure:{c}", p, d) for c, p, d in structure.validate_resource(obj)]
    if issues:
        return issues
    claimed = claimed_facility(obj)
    if facility is not None and claimed is not None and claimed != facility:
        return [
            (
                "owner:source-mismatch",
                "meta.source",
                f"meta.source names another facility; records are stored as {facility}",
            )
        ]
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
        q = select(Resource.res_type, Resource.res_id).where(
            key_clause(Resource.res_type, Resource.res_id, targets), Resource.deleted.is_(False)
        )
        clause = scope.clause() if scope is not None else None
        if clause is not None:
            q = q.where(or_(Resource.res_type.in_(SHARED_TYPES), clause))
        found = {f"{t}/{i}" for t, i in session.execute(q)}
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

"""The CPU-heavy half of an import, run in worker processes: parse each record, validate it
(structure, then the platform profile, after checking whom it claims to come from), and stage
a valid one for the writer (stored bytes, content hash, index rows, the references it makes).
Pure: nothing here touches the database; the worker knows the registered facilities and their
org-unit paths (`init_worker`)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from phip.exchange import profile, structure
from phip.exchange.ownership import SOURCE_PREFIX, claimed_facility, facility_of
from phip.exchange.sources import RANK
from phip.fhir.references import local_ref, references
from phip.store.bulkwrite import Staged, index_tuple, stage
from phip.store.codec import content_hash
from phip.store.repository import PLATFORM_IDS
from phip.store.search_params import date_range, params_for, values


class Prepared(NamedTuple):
    """One record after the CPU-heavy work (parse, validate, serialise, index) done by an import
    worker. `staged` is None when the record failed validation (`issues` says why)."""

    rtype: str | None
    rid: str | None
    facility: str | None
    issues: list[tuple[str, str, str]]
    warnings: list[str]
    refs: list[str]
    staged: Staged | None
    #: the clinical date (ISO), the facility's send time, the batch month and the lag in days
    when: str | None
    sent: str | None
    month: str | None
    lag: int | None


_ORG_PATHS: dict[str, str] = {}


def init_worker(org_paths: dict[str, str]) -> None:
    """Give this process the registered facilities and their org-unit paths."""
    _ORG_PATHS.clear()
    _ORG_PATHS.update(org_paths)


def prepare(args: tuple[str, str | None, list[bytes]]) -> list[Prepared]:
    """Parse, validate (structure, then profile), and for valid records extract references and
    stage them for the writer (stored bytes, content hash, index rows). Pure: runs in worker
    processes."""
    folder, default_facility, batch = args
    return [_prepare_one(raw, folder, default_facility) for raw in batch]


def _prepare_one(raw: bytes, folder: str, default_facility: str | None) -> Prepared:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        issue = [("json:parse-error", "$", "not valid JSON")]
        fac = facility_of(folder, default_facility, _ORG_PATHS)
        return Prepared(None, None, fac, issue, [], [], None, None, None, None, None)
    is_obj = isinstance(obj, dict)
    rtype = obj.get("resourceType") if is_obj and isinstance(obj.get("resourceType"), str) else None
    fac = facility_of(folder, default_facility, _ORG_PATHS)
    issues: list[tuple[str, str, str]] = []
    claimed = claimed_facility(obj) if is_obj else None
    if claimed is not None and fac is not None and claimed != fac:
        issues = [
            (
                "owner:source-mismatch",
                "meta.source",
                f"meta.source names facility {claimed[:40]}, but the record was submitted by {fac}",
            )
        ]
    elif is_obj and isinstance(obj.get("id"), str) and obj["id"].startswith(PLATFORM_IDS):
        issues = [("owner:platform-id", "id", "ids starting with wf- are the platform's own records")]
    elif not structure.is_valid(obj):
        issues = [(f"structure:{c}", p, d) for c, p, d in structure.validate_resource(obj)]
    warnings: list[str] = []
    if not issues:
        found = profile.check(obj)
        issues = [i for i in found if i[0] not in profile.WARNINGS]
        warnings = [i[0] for i in found if i[0] in profile.WARNINGS]
    meta = obj.get("meta") if is_obj and isinstance(obj.get("meta"), dict) else {}
    sent = meta.get("lastUpdated") if isinstance(meta.get("lastUpdated"), str) else None
    src = meta.get("source")
    src_month = src[-7:] if isinstance(src, str) and src.startswith(SOURCE_PREFIX) else None
    rid = obj.get("id") if is_obj and isinstance(obj.get("id"), str) else None
    if issues:
        return Prepared(rtype, rid, fac, issues, warnings, [], None, None, sent, src_month, None)
    if not rid:
        rid = _derived_id(obj, fac)
        obj["id"] = rid
    when = _clinical_date(obj) if rtype in RANK else None
    staged = stage(obj, fac, _ORG_PATHS.get(fac or ""), content_hash(obj), index_tuple(obj))
    local = [x for x in (local_ref(r) for r in references(staged.content)) if x is not None]
    return Prepared(
        rtype,
        rid,
        fac,
        [],
        warnings,
        local,
        staged,
        when,
        sent,
        src_month or (when[:7] if when else None),
        None if rtype in _BORN else _lag(when, sent),
    )


#: types whose date is a birth date, not a service's: no lag, no part of the period covered
_BORN = frozenset({"Patient", "RelatedPerson", "Person", "Practitioner"})


def _lag(when: str | None, sent: str | None) -> int | None:
    """Days between the data's own date and its sending (never negative)."""
    if not when or not sent:
        return None
    try:
        lag = (
            datetime.fromisoformat(sent.replace("Z", "+00:00"))
            - datetime.fromisoformat(when).replace(tzinfo=UTC)
        ).days
    except ValueError:
        return None
    return max(0, lag)


def _clinical_date(res: dict[str, Any]) -> str | None:
    for p in params_for(res["resourceType"]):
        if p.name == "date" or p.name == "birthdate":
            for v in values(res, p):
                d = date_range(v)
                if d:
                    return d[0]
    return None


def _derived_id(obj: dict[str, Any], fac: str | None) -> str:
    """A stable id for a record submitted without one: from its business identifier when it has
    one (so a resubmission updates the same record), else from its content."""
    ident = next((i for i in obj.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
    basis = (
        f"{fac}|{obj['resourceType']}|{ident.get('system')}|{ident['value']}"
        if ident
        else orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
    )
    return hashlib.blake2b(basis.encode(), digest_size=16).hexdigest()

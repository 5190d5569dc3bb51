"""FHIR `batch` and `transaction` Bundles.

A transaction is all-or-nothing: every entry is processed in one database transaction, in the
order the specification gives (DELETE, POST, PUT, GET), `urn:uuid:` full URLs are replaced by the
ids the server assigns and every reference to them is rewritten; if any entry fails, nothing is
stored and the caller gets the failing entry's OperationOutcome. A batch processes each entry on
its own and reports each entry's status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.orm import Session

from phip.exchange import service
from phip.exchange.structure import is_resource_type
from phip.security.redact import url_target
from phip.store.errors import StoreError
from phip.store.repository import Repository, Scope
from phip.store.search import search

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
Audit = Callable[[str, str, str], None]  # (action, target, outcome)


class EntryError(Exception):
    def __init__(self, status: int, text: str, issues: list[tuple[str, str, str]] | None = None):
        super().__init__(text)
        self.status, self.text, self.issues = status, text, issues or []


@dataclass
class Caller:
    scope: Scope
    facility: str | None  # None: may not write
    org_path: str | None


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "reference" and isinstance(v, str) and v in mapping:
                out[k] = mapping[v]
            else:
                out[k] = _rewrite(v, mapping)
        return out
    if isinstance(node, list):
        return [_rewrite(v, mapping) for v in node]
    return node


def _condition(text: str) -> list[tuple[str, str]]:
    """Search parameters of a condition, with or without a leading `Type?`."""
    return parse_qsl(text.split("?", 1)[1] if "?" in text else text)


def _url_parts(url: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(path segments from the resource type on, query) of a relative or absolute request url."""
    split = urlsplit(url)
    segments = [p for p in split.path.split("/") if p]
    for i, seg in enumerate(segments):
        if is_resource_type(seg) and len(segments) - i <= 4:
            return segments[i:], parse_qsl(split.query)
    return segments, parse_qsl(split.query)


def _outcome(status: int, text: str, issues: list[tuple[str, str, str]]) -> dict[str, Any]:
    items = [
        {
            "severity": "error",
            "code": "processing",
            "details": {"coding": [{"code": c}], "text": d},
            "expression": [p],
        }
        for c, p, d in issues
    ] or [{"severity": "error", "code": "processing", "diagnostics": text}]
    return {"resourceType": "OperationOutcome", "issue": items}


def process(
    session: Session, bundle: dict[str, Any], caller: Caller, audit: Audit
) -> tuple[int, dict[str, Any]]:
    """Return (HTTP status, response Bundle or OperationOutcome)."""
    btype = bundle.get("type")
    if btype not in ("batch", "transaction"):
        raise EntryError(400, "only batch and transaction Bundles can be posted to the server base")
    entries = bundle.get("entry") or []
    if btype == "batch":
        return 200, _batch(session, entries, caller, audit)
    try:
        result = _transaction(session, entries, caller, audit)
    except EntryError as exc:
        session.rollback()
        return exc.status, _outcome(exc.status, exc.text, exc.issues)
    except StoreError as exc:
        session.rollback()
        return exc.status, _outcome(exc.status, str(exc), [])
    session.commit()
    return 200, result


def _batch(session: Session, entries: list[Any], caller: Caller, audit: Audit) -> dict[str, Any]:
    out = []
    for i, entry in enumerate(entries):
        try:
            resp = _entry(session, entry, caller, audit, {}, None)
            session.commit()
        except EntryError as exc:
            session.rollback()
            resp = {
                "response": {"status": str(exc.status), "outcome": _outcome(exc.status, exc.text, exc.issues)}
            }
        except StoreError as exc:
            session.rollback()
            resp = {"response": {"status": str(exc.status), "outcome": _outcome(exc.status, str(exc), [])}}
        out.append((i, resp))
    return {"resourceType": "Bundle", "type": "batch-response", "entry": [r for _i, r in out]}


def _transaction(session: Session, entries: list[Any], caller: Caller, audit: Audit) -> dict[str, Any]:
    mapping: dict[str, str] = {}
    # ids for POSTs first, so references between entries resolve in any order
    for entry in entries:
        req = (entry or {}).get("request") or {}
        res = (entry or {}).get("resource")
        full = (entry or {}).get("fullUrl")
        if req.get("method") == "POST" and isinstance(res, dict) and isinstance(full, str):
            if req.get("ifNoneExist"):
                rtype = res.get("resourceType", "")
                found = search(
                    Repository(session, caller.scope),
                    rtype,
                    [*_condition(req["ifNoneExist"]), ("_count", "2")],
                )
                if len(found.resources) == 1:
                    mapping[full] = f"{rtype}/{found.resources[0]['id']}"
                    continue
            mapping[full] = f"{res.get('resourceType')}/{uuid.uuid4()}"
        if isinstance(full, str) and "://" in full and full in mapping:
            segs, _q = _url_parts(full)
            if len(segs) == 2:  # relative references resolve against the entry's base
                mapping["/".join(segs)] = mapping[full]
        elif req.get("method") == "PUT" and isinstance(full, str) and full.startswith("urn:uuid:"):
            url = req.get("url", "")
            if "?" not in url:
                segs, _q = _url_parts(url)
                mapping[full] = "/".join(segs[:2])
    known = {v for v in mapping.values()}
    known |= {
        f"{(e.get('resource') or {}).get('resourceType')}/{(e.get('resource') or {}).get('id')}"
        for e in entries
        if isinstance(e, dict) and (e.get("request") or {}).get("method") == "PUT"
    }
    order = sorted(
        range(len(entries)),
        key=lambda i: ORDER.get(((entries[i] or {}).get("request") or {}).get("method", ""), 9),
    )
    responses: dict[int, dict[str, Any]] = {}
    for i in order:
        try:
            responses[i] = _entry(session, entries[i], caller, audit, mapping, known)
        except EntryError as exc:
            raise EntryError(exc.status, f"entry {i}: {exc.text}", exc.issues) from exc
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [responses[i] for i in range(len(entries))],
    }


def _entry(
    session: Session,
    entry: Any,
    caller: Caller,
    audit: Audit,
    mapping: dict[str, str],
    known: set[str] | None,
) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise EntryError(400, "every entry needs a request")
    req = entry["request"]
    method, url = req.get("method"), str(req.get("url", ""))
    parts, query = _url_parts(url)
    if not parts or not is_resource_type(parts[0]):
        raise EntryError(400, f"unsupported url {url!r}")
    if any(p.startswith("$") for p in parts):
        raise EntryError(
            400, f"operation {next(p for p in parts if p.startswith('$'))} is not supported in a Bundle"
        )
    rtype = parts[0]
    repo = Repository(session, caller.scope)
    if method in ("GET", "HEAD"):
        if len(parts) == 2:
            current = repo.read(rtype, parts[1])
            audit("read", f"{rtype}/{parts[1]}", "ok")
            etag = f'W/"{current["meta"]["versionId"]}"'
            return {"resource": current, "response": {"status": "200", "etag": etag}}
        found = search(repo, rtype, query)
        audit("search", url_target(url), "ok")
        return {
            "resource": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in found.resources],
            },
            "response": {"status": "200"},
        }
    if caller.facility is None:
        audit(method.lower() if isinstance(method, str) else "write", url_target(url), "denied")
        raise EntryError(403, "this account may not write records")
    if method == "DELETE":
        if len(parts) != 2:
            if not query:
                raise EntryError(400, "DELETE needs Type/id or a condition")
            matches = search(repo, rtype, [*query, ("_count", "2")]).resources
            if len(matches) > 1:
                raise EntryError(412, "the condition matches more than one resource")
            if not matches:
                audit("delete", url_target(url), "not-found")
                return {"response": {"status": "204"}}
            parts = [rtype, matches[0]["id"]]
        try:  # another facility's record reads as missing; the repository audits either way
            _writer(session, caller, audit).delete(rtype, parts[1])
        except StoreError as exc:
            raise EntryError(exc.status, str(exc)) from exc
        return {"response": {"status": "204"}}
    given = entry.get("resource")
    if not isinstance(given, dict) or given.get("resourceType") != rtype:
        raise EntryError(400, f"the entry's resource must be a {rtype}")
    res: dict[str, Any] = _rewrite(given, mapping)
    full = entry.get("fullUrl")
    if method == "POST":
        target = mapping.get(full) if isinstance(full, str) else None
        if req.get("ifNoneExist") and target and repo.exists(*target.split("/", 1)):
            return {"response": {"status": "200", "location": target}}
        res["id"] = target.split("/", 1)[1] if target else str(uuid.uuid4())
    elif method == "PUT":
        if query:
            found = search(repo, rtype, [*query, ("_count", "2")])
            if len(found.resources) > 1:
                raise EntryError(412, "the condition matches more than one resource")
            res["id"] = found.resources[0]["id"] if found.resources else res.get("id") or str(uuid.uuid4())
        elif len(parts) == 2:
            res["id"] = parts[1]
        else:
            raise EntryError(400, "PUT needs Type/id or a condition")
    else:
        raise EntryError(400, f"unsupported method {method!r}")
    issues = service.validate(session, res, known, caller.scope, caller.facility)
    if issues:
        audit(method.lower(), f"{rtype}/{res['id']}", "invalid")
        raise EntryError(422, "the resource is not valid", issues)
    try:  # another facility's record is refused (409) and audited by the repository
        written = _writer(session, caller, audit).update(
            rtype, res["id"], res, org_path=caller.org_path, verb=None
        )
    except StoreError as exc:
        raise EntryError(exc.status, str(exc)) from exc
    version = written.resource["meta"]["versionId"]
    return {
        "response": {
            "status": "201" if version == "1" and written.outcome != "unchanged" else "200",
            "location": f"{rtype}/{res['id']}/_history/{version}",
            "etag": f'W/"{version}"',
        }
    }


class _EntryAuditor:
    """The repository's auditor inside a Bundle: every write and refusal goes to the Bundle's
    audit (in the Bundle's transaction: a refused entry fails a transaction, and the router
    audits the failed attempt)."""

    def __init__(self, audit: Audit):
        self.audit = audit

    def written(self, verb: str, target: str, outcome: str) -> None:
        self.audit(verb, target, outcome)

    def refused(self, verb: str, target: str, outcome: str) -> None:
        self.audit(verb, target, outcome)


def _writer(session: Session, caller: Caller, audit: Audit) -> Repository:
    """The repository acting for the Bundle's caller (writes as its facility only)."""
    return Repository(session, caller.scope, writer=caller.facility, auditor=_EntryAuditor(audit))

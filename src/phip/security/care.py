"""The care relationship that lets a clinician see a resident's records held by other
facilities: only from evidence another party can check, never from the facility merely holding
a Patient record (anyone can create one with someone's identity number).

Grounds, in order of strength:

* `referral` — a ServiceRequest (a referral or a consult request) written by another facility,
  naming the clinician's facility as performer, active or completed;
* `consent` — an active Consent of the resident, recorded by someone other than the
  clinician's facility (the resident, another facility), naming it as an actor;
* `visit` — an Encounter of the clinician's facility with the resident that started within
  `VISIT_WINDOW` and not in the future, and that the viewer did not record themselves (the
  audit log says who wrote it): a clinician who types in a visit to open a record proves
  nothing; the facility's registration system, or a colleague, must have recorded it.

Each cross-facility view is audited with the ground and the id of its evidence, so an auditor
can check that the visit, referral or consent is real (a facility that fabricates a visit to
open a record leaves a clinical record of it, in its own name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.security.models import AuditEntry
from phip.store.models import Resource

#: a visit this long ago still grounds continuing care (chronic-disease follow-up is yearly or less)
VISIT_WINDOW = timedelta(days=3 * 365)
LIVE_REFERRAL = frozenset({"active", "completed"})


@dataclass(frozen=True)
class Ground:
    kind: str  # referral / consent / visit
    record: str  # Type/id of the evidence

    def reason(self) -> str:
        return f"care: {self.kind} {self.record}"


def _refs(node: Any) -> list[str]:
    out: list[str] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("reference")
            if isinstance(ref, str):
                out.append(ref)
            stack.extend(v for v in cur.values() if isinstance(v, dict | list))
        elif isinstance(cur, list):
            stack.extend(v for v in cur if isinstance(v, dict | list))
    return out


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _names(res: dict[str, Any], field: str, facility: str) -> bool:
    return f"Organization/{facility}" in _refs(res.get(field))


def ground(
    session: Session,
    facility: str,
    own_ids: list[str],
    all_ids: list[str],
    now: datetime | None = None,
    *,
    viewer: str | None = None,
) -> Ground | None:
    """The strongest evidence that `facility` cares for the person whose Patient records are
    `all_ids` (`own_ids` of them held by the facility), or None. A visit `viewer` (an audit
    actor, `kind:id`) recorded themselves does not count."""
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(Resource.res_type, Resource.res_id, Resource.facility, Resource.content).where(
            Resource.patient_id.in_(all_ids),
            Resource.res_type.in_(("ServiceRequest", "Consent", "Encounter")),
            Resource.deleted.is_(False),
        )
    ).all()
    found: dict[str, Ground] = {}
    visits: list[str] = []
    for rtype, rid, owner, content in rows:
        res = orjson.loads(content)
        if rtype == "ServiceRequest" and owner != facility and res.get("status") in LIVE_REFERRAL:
            if _names(res, "performer", facility):
                found.setdefault("referral", Ground("referral", f"{rtype}/{rid}"))
        elif rtype == "Consent" and owner != facility and res.get("status") == "active":
            period = (res.get("provision") or {}).get("period") or {}
            end = _instant(period.get("end"))
            if (end is None or end > now) and _names(res, "provision", facility):
                found.setdefault("consent", Ground("consent", f"{rtype}/{rid}"))
        elif rtype == "Encounter" and owner == facility:
            start = _instant((res.get("period") or {}).get("start"))
            subject = _refs(res.get("subject"))
            recent = start is not None and now - VISIT_WINDOW <= start <= now
            if recent and any(r.split("/")[-1] in own_ids for r in subject):
                visits.append(f"{rtype}/{rid}")
    if visits:
        self_recorded = _written_by(session, viewer, visits) if viewer else set()
        ok = [v for v in sorted(visits) if v not in self_recorded]
        if ok:
            found["visit"] = Ground("visit", ok[0])
    for kind in ("referral", "consent", "visit"):
        if kind in found:
            return found[kind]
    return None


def _written_by(session: Session, actor: str, targets: list[str]) -> set[str]:
    """Which of `targets` (Type/id) `actor` created or updated (from the audit log)."""
    rows = session.scalars(
        select(AuditEntry.target).where(
            AuditEntry.actor == actor,
            AuditEntry.action.in_(("create", "update")),
            AuditEntry.target.in_(targets),
            AuditEntry.outcome.notin_(("denied", "invalid", "not-found", "failed", "exists")),
        )
    )
    return set(rows)

"""The person index in FHIR terms: `Patient.link` (type `seealso`) to the other records of the same
person, added when a Patient is read (computed from the index, so relinking never writes new
Patient versions), and the golden record as a FHIR `Person` whose `link.target`s are the Patient
records, with the assurance of each link (level4: placed by a steward, level3: the model's certain
match). A merged person is an inactive Person linking to the one it was merged into."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from phip.identity import decisions, persons
from phip.identity.models import PersonRecordRow, PersonRow, ReviewItem
from phip.standards import codesystems as cs
from phip.store.models import Resource
from phip.store.repository import Repository

_GENDER = {"1": "male", "2": "female"}


class Visibility:
    """Which index records a repository's scope may see (Patients only), memoised."""

    def __init__(self, repo: Repository):
        self.repo = repo
        self.seen: dict[str, bool] = {}

    def __call__(self, record: str) -> bool:
        if record not in self.seen:
            rtype, _, rid = record.partition("/")
            self.seen[record] = rtype == "Patient" and self.repo.exists(rtype, rid)
        return self.seen[record]


def _visible_record(column: InstrumentedAttribute[str], repo: Repository) -> ColumnElement[bool]:
    """SQL: the record id in `column` is a Patient the repository's scope may see (as `Visibility`)."""
    prefix = "Patient/"
    seen = repo.scoped_select(Resource.res_id).where(
        Resource.res_type == "Patient",
        Resource.res_id == func.substr(column, len(prefix) + 1),
        Resource.deleted.isnot(True),
    )
    return and_(column.startswith(prefix), seen.exists())


def visible_items(repo: Repository) -> ColumnElement[bool]:
    """SQL: review items both of whose records the repository's scope may see (the queue, its
    paging and its counts hold only these)."""
    return and_(_visible_record(ReviewItem.record_id, repo), _visible_record(ReviewItem.other_id, repo))


def ever_members(session: Session, person_id: str) -> set[str]:
    """The records that are or were in a person (now, or in the state before or after any
    decision that touched it)."""
    now = persons.members(session, [person_id]).get(person_id, [])
    return set(now) | decisions.past_members(decisions.history(session, person_id), person_id)


def may_see_person(session: Session, person_id: str, visible: Callable[[str], bool]) -> bool:
    """A person (its golden record, its decisions) is for a caller who may see at least one
    record that is or was in it; to anyone else it does not exist."""
    if session.get(PersonRow, person_id) is None:
        return False
    return any(visible(r) for r in sorted(ever_members(session, person_id)))


def add_links(session: Session, repo: Repository, patients: list[dict[str, Any]]) -> None:
    """Add the index's `seealso` links to Patient resources being returned (in place)."""
    if not patients:
        return
    links = patient_links(session, (f"Patient/{p['id']}" for p in patients), Visibility(repo))
    for p in patients:
        ours = links.get(f"Patient/{p['id']}")
        if ours:
            have = {str((lk.get("other") or {}).get("reference")) for lk in p.get("link") or []}
            p["link"] = list(p.get("link") or []) + [
                lk for lk in ours if lk["other"]["reference"] not in have
            ]


def patient_links(
    session: Session, record_ids: Iterable[str], visible: Callable[[str], bool]
) -> dict[str, list[dict[str, Any]]]:
    """For each record, `Patient.link` entries to the visible other records of its person."""
    ids = sorted(set(record_ids))
    person_of: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        person_of.update(
            (r, p)
            for r, p in session.execute(
                select(PersonRecordRow.record_id, PersonRecordRow.person_id).where(
                    PersonRecordRow.record_id.in_(ids[i : i + 500])
                )
            )
            if p
        )
    groups = persons.members(session, set(person_of.values())) if person_of else {}
    out: dict[str, list[dict[str, Any]]] = {}
    for rid in ids:
        others = [o for o in groups.get(person_of.get(rid, ""), []) if o != rid and visible(o)]
        if others:
            out[rid] = [{"other": {"reference": o}, "type": "seealso"} for o in sorted(others)]
    return out


def person_resource(
    session: Session, person_id: str, visible: Callable[[str], bool]
) -> dict[str, Any] | None:
    """The FHIR Person of an index person, limited to what comes from visible records; None when
    the caller sees none of its records."""
    row = session.get(PersonRow, person_id)
    if row is None:
        return None
    if row.status == "merged" and row.merged_into:
        # a merged-away person shows (as a pointer) only to who saw one of its records
        if not may_see_person(session, person_id, visible):
            return None
        target = person_resource(session, row.merged_into, visible)
        if target is None:
            return None
        return {
            "resourceType": "Person",
            "id": person_id,
            "active": False,
            "link": [{"target": {"reference": f"Person/{row.merged_into}"}, "assurance": "level4"}],
        }
    links = [
        (r, st)
        for r, st in session.execute(
            select(PersonRecordRow.record_id, PersonRecordRow.link_status).where(
                PersonRecordRow.person_id == person_id
            )
        )
        if visible(r)
    ]
    if not links:
        return None
    shown = {r for r, _ in links}
    attrs = {
        k: v["value"]
        for k, v in ((persons.golden_record(session, person_id) or {}).get("attributes") or {}).items()
        if v["record"] in shown
    }
    res: dict[str, Any] = {"resourceType": "Person", "id": person_id, "active": row.status == "active"}
    if attrs.get("id_number"):
        res["identifier"] = [{"use": "official", "system": cs.ID_RESIDENT, "value": attrs["id_number"]}]
    if attrs.get("name"):
        res["name"] = [{"use": "official", "text": attrs["name"]}]
    if attrs.get("phone"):
        res["telecom"] = [{"system": "phone", "value": attrs["phone"]}]
    if attrs.get("sex") in _GENDER:
        res["gender"] = _GENDER[attrs["sex"]]
    if attrs.get("birth_date"):
        res["birthDate"] = attrs["birth_date"]
    if attrs.get("address"):
        res["address"] = [{"use": "home", "text": attrs["address"]}]
    res["link"] = [
        {"target": {"reference": r}, "assurance": "level4" if st == "manual" else "level3"}
        for r, st in sorted(links)
    ]
    return res

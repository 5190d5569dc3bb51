"""Persons of the index: which person each record belongs to after a batch linkage (stable ids,
manual decisions win), their golden records, and snapshots of that state for the audit trail.

Stable ids: a health card and every view of a resident hang on the person id, so relinking must
not rename people. A new cluster takes the person id most of its records already had (the
largest cluster first; an id is given to one cluster only); a cluster of only new records gets a
new id. Manual decisions win: a record a steward placed (`manual`) stays with its person, the
model's records of a cluster join the manual person they share the cluster with, and two records
a steward said are different people never end in one person.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from phip.identity import golden
from phip.identity.models import NoMatchRule, PersonRecordRow, PersonRow
from phip.identity.realtime import load_features
from phip.store.protect import decrypt_bytes, encrypt_bytes


class Prior(NamedTuple):
    person_id: str | None
    status: str  # auto / manual


def new_person_id(seed: str) -> str:
    """A person's id: derived from a record id, no personal data."""
    return "P" + hashlib.blake2b(seed.encode(), digest_size=10).hexdigest()


def _split(members: list[str], different: dict[str, set[str]]) -> list[list[str]]:
    """Members in groups with no no-match pair inside (greedy, in order)."""
    groups: list[list[str]] = []
    for r in members:
        for g in groups:
            if not any(o in different.get(r, ()) for o in g):
                g.append(r)
                break
        else:
            groups.append([r])
    return groups


def assign(
    clusters: dict[str, str],
    prior: dict[str, Prior],
    no_match: Iterable[tuple[str, str]],
    reserved: Iterable[str] = (),
) -> dict[str, str]:
    """record → person id for a batch linkage result (`clusters`: record → cluster id). New ids
    avoid `reserved` (every person id ever handed out)."""
    different: dict[str, set[str]] = defaultdict(set)
    for a, b in no_match:
        different[a].add(b)
        different[b].add(a)
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for rid, c in clusters.items():
        by_cluster[c].append(rid)
    out: dict[str, str] = {}
    manual_persons = {p.person_id for p in prior.values() if p.status == "manual" and p.person_id}
    groups: list[list[str]] = []
    for members in by_cluster.values():
        members.sort()
        pinned: dict[str, list[str]] = defaultdict(list)  # manual person → its records here
        free = []
        for r in members:
            pr = prior.get(r)
            if pr is not None and pr.status == "manual" and pr.person_id:
                out[r] = pr.person_id
                pinned[pr.person_id].append(r)
            else:
                free.append(r)
        rest = []
        for r in free:
            allowed = [(len(rs), pid) for pid, rs in pinned.items() if not any(o in different[r] for o in rs)]
            if allowed:
                out[r] = max(allowed)[1]
            else:
                rest.append(r)
        groups.extend(_split(rest, different))
    taken = set(out.values()) | manual_persons
    known = set(reserved)
    for g in sorted(groups, key=lambda g: (-len(g), g[0])):
        votes = Counter(prior[r].person_id for r in g if r in prior and prior[r].person_id)
        pid = next(
            (p for p, _n in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])) if p not in taken), None
        )
        if pid is None:
            pid = new_person_id(g[0])
            n = 0
            while pid in taken or pid in known:
                n += 1
                pid = new_person_id(f"{g[0]}#{n}")
        taken.add(pid)
        for r in g:
            out[r] = pid
    return out


def known_ids(session: Session) -> set[str]:
    """Every person id handed out (a new one must not reuse one)."""
    return set(session.scalars(select(PersonRow.person_id)))


def fresh_id(session: Session, seed: str) -> str:
    pid, n = new_person_id(seed), 0
    while session.get(PersonRow, pid) is not None:
        n += 1
        pid = new_person_id(f"{seed}#{n}")
    return pid


# ---- reading and writing the index -------------------------------------------------------------
def priors(session: Session) -> dict[str, Prior]:
    return {
        r: Prior(p, s)
        for r, p, s in session.execute(
            select(PersonRecordRow.record_id, PersonRecordRow.person_id, PersonRecordRow.link_status)
        )
    }


def no_match_pairs(session: Session, records: Iterable[str] | None = None) -> set[tuple[str, str]]:
    q = select(NoMatchRule.record_a, NoMatchRule.record_b)
    if records is not None:
        ids = list(records)
        q = q.where(or_(NoMatchRule.record_a.in_(ids), NoMatchRule.record_b.in_(ids)))
    return {(a, b) for a, b in session.execute(q)}


def members(session: Session, person_ids: Iterable[str]) -> dict[str, list[str]]:
    """person → its record ids."""
    out: dict[str, list[str]] = defaultdict(list)
    ids = sorted(set(person_ids))
    for i in range(0, len(ids), 500):
        for rid, pid in session.execute(
            select(PersonRecordRow.record_id, PersonRecordRow.person_id).where(
                PersonRecordRow.person_id.in_(ids[i : i + 500])
            )
        ):
            out[pid or ""].append(rid)
    return out


def refresh(session: Session, person_ids: Iterable[str]) -> None:
    """Rebuild the golden records of these persons from their current records (a person left
    with no records is kept, status `empty`, so ids handed out stay resolvable)."""
    ids = sorted({p for p in person_ids if p})
    now = datetime.now(UTC)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        people: dict[str, list[Any]] = defaultdict(list)
        for pid, blob in session.execute(
            select(PersonRecordRow.person_id, PersonRecordRow.features).where(
                PersonRecordRow.person_id.in_(chunk)
            )
        ):
            people[pid or ""].append(load_features(blob))
        existing = {
            r.person_id: r for r in session.scalars(select(PersonRow).where(PersonRow.person_id.in_(chunk)))
        }
        for pid in chunk:
            recs = people.get(pid, [])
            sealed = encrypt_bytes(orjson.dumps(golden.build(recs))) if recs else None
            row = existing.get(pid)
            if row is None and not recs:
                continue  # never existed (or removed by a revert): nothing to keep
            if row is None:
                row = PersonRow(person_id=pid, status="active", merged_into=None)
                session.add(row)
            if row.status != "merged":
                row.status = "active" if recs else "empty"
                row.merged_into = None
            row.records = len(recs)
            row.golden = sealed
            row.updated_at = now
    session.flush()


def golden_record(session: Session, person_id: str) -> dict[str, Any] | None:
    row = session.get(PersonRow, person_id)
    if row is None or row.golden is None:
        return None
    out: dict[str, Any] = orjson.loads(decrypt_bytes(row.golden))
    return out


def resolve(session: Session, person_id: str) -> str:
    """The person an id stands for now (following merges)."""
    seen = set()
    while person_id not in seen:
        seen.add(person_id)
        row = session.get(PersonRow, person_id)
        if row is None or row.status != "merged" or not row.merged_into:
            return person_id
        person_id = row.merged_into
    return person_id


# ---- snapshots for the audit trail --------------------------------------------------------------
def snapshot(session: Session, person_ids: Iterable[str]) -> dict[str, Any]:
    """The state of these persons and of every record in them: enough to put it back exactly."""
    ids = sorted({p for p in person_ids if p})
    recs = {
        rid: [pid, st, prob]
        for rid, pid, st, prob in session.execute(
            select(
                PersonRecordRow.record_id,
                PersonRecordRow.person_id,
                PersonRecordRow.link_status,
                PersonRecordRow.link_prob,
            ).where(PersonRecordRow.person_id.in_(ids))
        )
    }
    persons = {
        r.person_id: [r.status, r.merged_into]
        for r in session.scalars(select(PersonRow).where(PersonRow.person_id.in_(ids)))
    }
    return {"persons": persons, "records": recs}


def restore(session: Session, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Put the records and persons of a decision back as they were `before` it; persons the
    decision created (in `after` only) are removed."""
    for rid, (pid, st, prob) in before["records"].items():
        row = session.get(PersonRecordRow, rid)
        if row is not None:
            row.person_id, row.link_status, row.link_prob = pid, st, prob
    for pid, (st, into) in before["persons"].items():
        prow = session.get(PersonRow, pid)
        if prow is not None:
            prow.status, prow.merged_into = st, into
    created = set(after["persons"]) - set(before["persons"])
    if created:
        session.execute(delete(PersonRow).where(PersonRow.person_id.in_(sorted(created))))
    session.flush()

"""Linking the store: every Patient resource to a person, the person index filled for real-time
matching, and the model kept where `Patient/$match` finds it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from phip.identity import persons, review, splink_model
from phip.identity.features import from_patient
from phip.identity.linkage import link
from phip.identity.models import PersonKey, PersonRecordRow
from phip.identity.person import derive
from phip.identity.realtime import PersonIndex
from phip.identity.scorer import Scorer
from phip.store import outbox
from phip.store.codec import from_stored
from phip.store.models import Resource

#: the person index's subscriber to Patient writes in the store's outbox (`identity/events.py`)
SUBSCRIBER = "identity.link"


def model_path(var_dir: Path) -> Path:
    return var_dir / "empi" / "model.json"


def link_store(session: Session, var_dir: Path, retrain: bool = True) -> dict[str, Any]:
    """Link all Patients in the store, fill the person index, keep person ids stable and manual
    decisions in force (`persons.assign`), rebuild golden records, queue possible matches for
    review and save the model. With `retrain=False` the saved model is used (a small store cannot
    train one)."""
    covered = outbox.mark(session)  # Patient events up to here are covered by this run
    seq = session.scalar(select(func.max(Resource.change_seq)).where(Resource.res_type == "Patient")) or 0
    rows = session.execute(
        select(Resource.content, Resource.version, Resource.last_updated, Resource.facility).where(
            Resource.res_type == "Patient", Resource.deleted.is_(False), Resource.change_seq <= seq
        )
    )
    records = []
    for c, v, t, fac in rows:
        rec = from_patient(from_stored(c, v, t))
        records.append(replace(rec, source=fac) if fac else rec)
    saved: dict[str, Any] | None = None
    tf: dict[str, dict[str, float]] | None = None
    if not retrain and model_path(var_dir).is_file():
        saved, tf = splink_model.load(model_path(var_dir))
    result = link(records, saved, tf)
    prior = persons.priors(session)
    assigned = persons.assign(
        result.clusters, prior, persons.no_match_pairs(session), persons.known_ids(session)
    )
    status = {r: "manual" for r, p in prior.items() if p.status == "manual" and r in assigned}
    index = PersonIndex(session, Scorer.from_model(result.model, result.term_frequencies))
    people = [derive(r) for r in records]
    probs = result.link_prob or {}
    for i in range(0, len(people), 5000):
        index.add(people[i : i + 5000], assigned, status, probs)
    persons.refresh(session, set(assigned.values()) | {p.person_id for p in prior.values() if p.person_id})
    queued = review.offer(session, result.possible, assigned, replace=True)
    outbox.set_position(session, SUBSCRIBER, covered)
    session.commit()
    if result.model:
        splink_model.save(result.model, model_path(var_dir), result.term_frequencies, len(records))
    return {
        "patients": len(records),
        "persons": len(set(assigned.values())),
        "possible_matches": len(result.possible),
        "queued_for_review": queued,
        "kept_by_hand": len(status),
        "model": str(model_path(var_dir)) if result.model else None,
    }


_scorers: dict[tuple[str, int], Scorer] = {}


def load_scorer(var_dir: Path) -> Scorer | None:
    """The saved model's scorer (read again when the file changes: a retrained model)."""
    path = model_path(var_dir)
    if not path.is_file():
        return None
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _scorers:
        model, tf = splink_model.load(path)
        _scorers.clear()
        _scorers[key] = Scorer.from_model(model, tf)
    return _scorers[key]


def index_patient(
    session: Session,
    var_dir: Path,
    res: dict[str, Any],
    facility: str | None = None,
    touched: set[str] | None = None,
) -> str | None:
    """Real-time linking of a created or updated Patient: a record placed by hand stays where it
    is; otherwise its current person when a certain match is there, else the person of its best
    certain match, else a person of its own (its old id when it was alone). Possible matches go to
    the review queue; golden records are rebuilt (or, given `touched`, the persons to rebuild are
    added to it). None while no model exists."""
    scorer = load_scorer(var_dir)
    if scorer is None:
        return None
    rec = from_patient(res)
    if facility:  # the storing facility, never the payload's managingOrganization
        rec = replace(rec, source=facility)
    p = derive(rec)
    index = PersonIndex(session, scorer)
    row = session.get(PersonRecordRow, p.record_id)
    old = row.person_id if row is not None else None
    if row is not None and row.link_status == "manual" and old:
        index.add([p], {p.record_id: old}, {p.record_id: "manual"})
        _rebuild(session, {old}, touched)
        return old
    apart = sorted({b if a == p.record_id else a for a, b in persons.no_match_pairs(session, [p.record_id])})
    blocked = set(
        session.scalars(select(PersonRecordRow.person_id).where(PersonRecordRow.record_id.in_(apart))).all()
    )
    found = [c for c in index.match(p) if c.person_id and c.person_id not in blocked]
    certain = [c for c in found if c.grade == "certain"]
    best = next((c for c in certain if c.person_id == old), certain[0] if certain else None)
    if best is not None and best.person_id:
        pid, prob = best.person_id, best.probability
    else:
        alone = old and not [r for r in persons.members(session, [old]).get(old, []) if r != p.record_id]
        pid, prob = (old if alone and old else persons.fresh_id(session, p.record_id)), None
    index.add([p], {p.record_id: pid}, None, {p.record_id: prob} if prob is not None else None)
    review.offer(
        session,
        [(p.record_id, c.record_id, c.probability) for c in found if c.grade != "certain"],
        {p.record_id: pid, **{c.record_id: c.person_id or "" for c in found}},
    )
    _rebuild(session, {pid} | ({old} if old else set()), touched)
    return pid


def _rebuild(session: Session, person_ids: set[str], touched: set[str] | None) -> None:
    if touched is None:
        persons.refresh(session, person_ids)
    else:
        touched.update(person_ids)


def unindex(session: Session, record_id: str, touched: set[str]) -> None:
    """A deleted Patient leaves the index (its person's golden record is rebuilt without it)."""
    row = session.get(PersonRecordRow, record_id)
    if row is None:
        return
    if row.person_id:
        touched.add(row.person_id)
    session.execute(delete(PersonKey).where(PersonKey.record_id == record_id))
    session.delete(row)

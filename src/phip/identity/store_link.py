"""Linking the store: every Patient resource to a person, the person index filled for real-time
matching, and the model kept where `Patient/$match` finds it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity import splink_model
from phip.identity.features import from_patient
from phip.identity.linkage import link
from phip.identity.person import derive
from phip.identity.realtime import PersonIndex
from phip.identity.scorer import Scorer
from phip.store.models import Resource
from phip.store.repository import from_stored


def model_path(var_dir: Path) -> Path:
    return var_dir / "empi" / "model.json"


def person_id(cluster: str) -> str:
    """A person's id: stable for the cluster's representative record, and no personal data."""
    return "P" + hashlib.blake2b(cluster.encode(), digest_size=10).hexdigest()


def link_store(session: Session, var_dir: Path, retrain: bool = True) -> dict[str, Any]:
    """Link all Patients in the store, fill the person index and save the model. With
    `retrain=False` the saved model is used (a small store cannot train one)."""
    rows = session.execute(
        select(Resource.content, Resource.version, Resource.last_updated).where(
            Resource.res_type == "Patient", Resource.deleted.is_(False)
        )
    )
    records = [from_patient(from_stored(c, v, t)) for c, v, t in rows]
    saved: dict[str, Any] | None = None
    tf: dict[str, dict[str, float]] | None = None
    if not retrain and model_path(var_dir).is_file():
        saved, tf = splink_model.load(model_path(var_dir))
    result = link(records, saved, tf)
    persons = {rid: person_id(c) for rid, c in result.clusters.items()}
    index = PersonIndex(session, Scorer.from_model(result.model, result.term_frequencies))
    people = [derive(r) for r in records]
    for i in range(0, len(people), 5000):
        index.add(people[i : i + 5000], persons)
    session.commit()
    if result.model:
        splink_model.save(result.model, model_path(var_dir), result.term_frequencies, len(records))
    return {
        "patients": len(records),
        "persons": len(set(persons.values())),
        "possible_matches": len(result.possible),
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


def index_patient(session: Session, var_dir: Path, res: dict[str, Any]) -> str | None:
    """Real-time linking of a created or updated Patient: the person of its best certain match in
    the index, else a new person; the record (re)indexed. None while no model exists."""
    scorer = load_scorer(var_dir)
    if scorer is None:
        return None
    p = derive(from_patient(res))
    index = PersonIndex(session, scorer)
    best = next((c for c in index.match(p) if c.grade == "certain" and c.person_id), None)
    pid = best.person_id if best is not None and best.person_id else person_id(p.record_id)
    index.add([p], {p.record_id: pid})
    return pid

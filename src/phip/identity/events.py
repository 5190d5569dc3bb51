"""The person index follows Patient writes through the store's outbox: each created, updated or
deleted Patient is linked (or leaves the index) after its commit, whoever wrote it (the FHIR API,
a Bundle, `$import`, `phip ingest`); and Patients the FHIR API returns carry `seealso` links to
the caller-visible records of the same person. Declared as the entry point `identity` of the
group `phip.domains` (`phip.store.plugins`); delivery is `phip.store.outbox.deliver()`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity import persons
from phip.identity.fhir_person import add_links
from phip.identity.models import PersonRecordRow
from phip.identity.store_link import SUBSCRIBER, index_patient, load_scorer, model_path, unindex
from phip.store import outbox, plugins
from phip.store.codec import from_stored
from phip.store.models import Resource


def link_patients(session: Session, events: list[outbox.Event], context: Mapping[str, Any]) -> None:
    """Link the Patients the events name, at their current version (several events of one record
    are one link); records already indexed at that version are left alone, so delivering again
    changes nothing. Without a model nothing can be linked yet: `phip empi link-store` links them
    all and moves this subscriber past what it covered."""
    var_dir = context.get("var_dir")
    if var_dir is None or load_scorer(Path(var_dir)) is None:
        return
    counts = context.get("counts")
    if counts is None:
        counts = {}
    ids = list(dict.fromkeys(e.key.removeprefix("Patient/") for e in events))
    rows = session.execute(
        select(
            Resource.res_id,
            Resource.content,
            Resource.version,
            Resource.last_updated,
            Resource.facility,
            Resource.deleted,
        ).where(Resource.res_type == "Patient", Resource.res_id.in_(ids))
    ).all()
    indexed = dict(
        session.execute(
            select(PersonRecordRow.record_id, PersonRecordRow.updated_at).where(
                PersonRecordRow.record_id.in_([f"Patient/{i}" for i in ids])
            )
        ).all()
    )
    touched: set[str] = set()
    for rid, content, version, last_updated, facility, deleted in rows:
        record = f"Patient/{rid}"
        if deleted:
            unindex(session, record, touched)
            counts["removed"] = counts.get("removed", 0) + 1
            continue
        at = indexed.get(record)
        if at is None or _aware(at) < _aware(last_updated):  # indexed before this version
            index_patient(
                session, Path(var_dir), from_stored(content, version, last_updated), facility, touched
            )
            counts["linked"] = counts.get("linked", 0) + 1
        else:
            counts["skipped"] = counts.get("skipped", 0) + 1
    persons.refresh(session, touched)


def link_pending(session: Session, var_dir: Path, progress: Any = None) -> dict[str, Any]:
    """Deliver the Patient events the person index has not followed yet (what `phip ingest`,
    `$import` and `phip empi link-pending` do after an import); resumable, each batch committed
    with the subscriber's position."""
    if load_scorer(var_dir) is None:
        return {"linked": 0, "skipped": 0, "removed": 0, "model": None}
    counts = {"linked": 0, "skipped": 0, "removed": 0}
    task = None
    if progress is not None:
        pending = outbox.status(session)["subscribers"].get(SUBSCRIBER, {}).get("pending", 0)
        task = progress.add_task("关联 linking", total=pending)
    result = outbox.deliver(
        session,
        {"var_dir": var_dir, "counts": counts},
        names=[SUBSCRIBER],
        progress=(lambda _name, n: progress.advance(task, n)) if task is not None else None,
    )
    out: dict[str, Any] = {**counts, "model": str(model_path(var_dir))}
    if SUBSCRIBER in result.failed:
        out["failed"] = result.failed[SUBSCRIBER]
    return out


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


outbox.subscribe(SUBSCRIBER, [outbox.resource_topic("Patient")], link_patients)
plugins.add_read_hook("Patient", add_links)

"""The resource repository every domain uses: versioned create/update/delete, read, vread,
history, and bulk upsert for imports. Search lives in `search.py`.

Every write keeps the previous versions in `resource_history`; a delete is a new version flagged
deleted. A write of a type other domains follow (`outbox.EVENT_TYPES`) adds its event to the
outbox in the same transaction. `meta.versionId` and `meta.lastUpdated` are set by the store; the submitted
`meta.source` is kept. An update whose content (without `meta`) is unchanged creates no version.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, select, tuple_
from sqlalchemy.orm import Session

from phip.store import outbox
from phip.store.bulkwrite import (
    bind_time,
    clear_index,
    insert_history,
    insert_index,
    stage,
    write_staged,
)
from phip.store.codec import content_hash, from_stored, instant, now_utc, stored_bytes
from phip.store.errors import Conflict, Forbidden, Gone, NotFound, PreconditionFailed, StoreError
from phip.store.indexer import IndexRows, index_rows
from phip.store.models import (
    Resource,
    ResourceHistory,
)
from phip.store.search_params import patient_of

Json = dict[str, Any]
#: ids the platform keeps for its own records (workflow cases' Tasks): no caller writes them
PLATFORM_IDS = ("wf-",)


@dataclass(frozen=True)
class Scope:
    """What a principal may read: an org-unit path prefix (and below) and/or one facility.
    `None` everywhere means the whole province."""

    org_path: str | None = None
    facility: str | None = None
    #: a resident: only resources in the compartments of these Patient records
    patient_ids: tuple[str, ...] | None = None

    def clause(self) -> Any:
        parts: list[Any] = []
        if self.patient_ids is not None:
            parts.append(Resource.patient_id.in_(self.patient_ids))
        if self.org_path is not None:
            parts.append(Resource.org_path.startswith(self.org_path, autoescape=True))
        if self.facility is not None:
            parts.append(Resource.facility == self.facility)
        return and_(*parts) if parts else None


@dataclass
class WriteResult:
    resource: Json
    outcome: str  # created / updated / unchanged / deleted


@dataclass(frozen=True)
class Incoming:
    """A validated resource to store, with who submitted it."""

    resource: Json
    facility: str | None = None
    org_path: str | None = None
    #: computed elsewhere to save the writer the work
    content_hash: str | None = None


class Auditor(Protocol):
    """Where a repository acting for a caller records each write (the access layer's audit log)."""

    def written(self, verb: str, target: str, outcome: str) -> None:
        """A write done, in the caller's transaction."""

    def refused(self, verb: str, target: str, outcome: str) -> None:
        """A write refused (the caller decides whether the record outlives the request)."""


class Repository:
    """The store, seen by one caller. `scope` limits what it reads (in SQL). Acting for a caller
    (`writer` and `auditor` given, as `Access.repo()` does), it also decides what the caller may
    write, whatever the payload says: a create is stored as the writer's facility; an update of
    another facility's record is a Conflict and a delete of one reads as missing (both audited
    as denied); with no writer facility every write is Forbidden; and every write is audited."""

    def __init__(
        self,
        session: Session,
        scope: Scope | None = None,
        *,
        writer: str | None = None,
        auditor: Auditor | None = None,
    ):
        self.session = session
        self.scope = scope or Scope()
        self.writer, self.auditor = writer, auditor

    @property
    def for_caller(self) -> bool:
        return self.auditor is not None

    def _may_write(self, verb: str, target: str) -> None:
        if self.for_caller and self.writer is None:
            assert self.auditor is not None
            self.auditor.refused(verb, target, "denied")
            raise Forbidden("this account may not write records")

    def _owned(self, verb: str, rtype: str, rid: str, current: Resource | None) -> None:
        """Refuse a write to a record another facility holds, or to one of the platform's own
        records (ids in PLATFORM_IDS: workflow cases); records held by no facility, the shared
        directory, may be updated by any writer."""
        if not self.for_caller:
            return
        platform = rid.startswith(PLATFORM_IDS)
        if not platform and (current is None or current.facility in (None, self.writer)):
            return
        assert self.auditor is not None
        self.auditor.refused(verb, f"{rtype}/{rid}", "denied")
        if verb == "delete":  # as for a missing id: another facility's ids are not the caller's to probe
            raise NotFound(f"{rtype}/{rid} not found")
        raise Conflict(f"{rtype}/{rid} cannot be written by this account; use another id")

    def _written(self, verb: str, target: str, outcome: str) -> None:
        if self.auditor is not None:
            self.auditor.written(verb, target, outcome)

    def scoped_select(self, *columns: Any) -> Any:
        """SELECT of resource columns limited to what this repository's scope may see."""
        q = select(*columns)
        clause = self.scope.clause()
        return q.where(clause) if clause is not None else q

    # ---- reads -----------------------------------------------------------------------------------
    def _row(self, rtype: str, rid: str) -> Resource | None:
        q = select(Resource).where(Resource.res_type == rtype, Resource.res_id == rid)
        clause = self.scope.clause()
        if clause is not None:
            q = q.where(clause)
        return self.session.scalars(q).first()

    def read(self, rtype: str, rid: str) -> Json:
        row = self._row(rtype, rid)
        if row is None:
            raise NotFound(f"{rtype}/{rid} not found")
        if row.deleted:
            raise Gone(f"{rtype}/{rid} was deleted")
        return from_stored(row.content, row.version, row.last_updated)

    def exists(self, rtype: str, rid: str) -> bool:
        row = self._row(rtype, rid)
        return row is not None and not row.deleted

    def vread(self, rtype: str, rid: str, version: int) -> Json:
        if self._row(rtype, rid) is None:
            raise NotFound(f"{rtype}/{rid} not found")
        h = self.session.scalars(
            select(ResourceHistory).where(
                ResourceHistory.res_type == rtype,
                ResourceHistory.res_id == rid,
                ResourceHistory.version == version,
            )
        ).first()
        if h is None:
            raise NotFound(f"{rtype}/{rid}/_history/{version} not found")
        if h.deleted:
            raise Gone(f"{rtype}/{rid} version {version} is a deletion")
        return from_stored(h.content, h.version, h.last_updated)

    def history(
        self,
        rtype: str | None = None,
        rid: str | None = None,
        since: datetime | None = None,
        count: int = 100,
    ) -> list[tuple[Json | None, str, str, int, bool]]:
        """Versions newest first: (resource or None for a deletion, type, id, version, deleted)."""
        q = select(ResourceHistory)
        if rtype is not None:
            q = q.where(ResourceHistory.res_type == rtype)
        if rid is not None:
            if self._row(rtype or "", rid) is None:
                raise NotFound(f"{rtype}/{rid} not found")
            q = q.where(ResourceHistory.res_id == rid)
        if since is not None:
            q = q.where(ResourceHistory.last_updated >= since)
        clause = self.scope.clause()
        if clause is not None and rid is None:
            visible = select(Resource.res_type, Resource.res_id).where(clause)
            q = q.where(tuple_(ResourceHistory.res_type, ResourceHistory.res_id).in_(visible))
        q = q.order_by(ResourceHistory.hid.desc()).limit(count)
        return [
            (
                None if h.deleted else from_stored(h.content, h.version, h.last_updated),
                h.res_type,
                h.res_id,
                h.version,
                h.deleted,
            )
            for h in self.session.scalars(q)
        ]

    # ---- single writes -----------------------------------------------------------------------------
    def create(self, res: Json, facility: str | None = None, org_path: str | None = None) -> WriteResult:
        res = dict(res)
        res["id"] = res.get("id") or str(uuid.uuid4())
        target = f"{res['resourceType']}/{res['id']}"
        self._may_write("create", target)
        self._owned("create", res["resourceType"], res["id"], None)
        if self.for_caller:
            if facility not in (None, self.writer):
                raise Forbidden("records are stored as the caller's facility")
            facility = self.writer
        if self.session.get(Resource, (res["resourceType"], res["id"])) is not None:
            raise Conflict(f"{target} already exists")
        written = self._write(res, None, facility, org_path)
        self._written("create", target, "ok")
        return written

    def update(
        self,
        rtype: str,
        rid: str,
        res: Json,
        if_match: int | None = None,
        facility: str | None = None,
        org_path: str | None = None,
        verb: str | None = "update",
    ) -> WriteResult:
        if res.get("resourceType") != rtype:
            raise StoreError(f"resourceType must be {rtype}", code="invalid")
        if res.get("id") != rid:
            raise StoreError("the id in the body must match the id in the URL", code="invalid")
        self._may_write(verb or "update", f"{rtype}/{rid}")
        current = self.session.get(Resource, (rtype, rid))
        if self.for_caller:
            self._owned(verb or "update", rtype, rid, current)
            if facility not in (None, self.writer):
                raise Forbidden("records are stored as the caller's facility")
            facility = self.writer
        elif current is not None and self.scope.clause() is not None and self._row(rtype, rid) is None:
            raise NotFound(f"{rtype}/{rid} not found")
        if if_match is not None and (current is None or current.version != if_match):
            raise PreconditionFailed(f"version {if_match} is not the current version of {rtype}/{rid}")
        written = self._write(dict(res), current, facility, org_path)
        if verb is None:  # named by what happened: a new record is a create
            verb = "create" if written.resource["meta"]["versionId"] == "1" else "update"
        self._written(verb, f"{rtype}/{rid}", written.outcome)
        return written

    def delete(self, rtype: str, rid: str) -> bool:
        """Delete a record (a new version flagged deleted); False when there is none to delete
        (audited as not-found for a caller)."""
        target = f"{rtype}/{rid}"
        self._may_write("delete", target)
        if self.for_caller:
            self._owned("delete", rtype, rid, self.session.get(Resource, (rtype, rid)))
        current = self._row(rtype, rid)  # what the caller cannot see, it cannot delete
        if current is not None and current.deleted and self.for_caller:
            self._written("delete", target, "gone")  # deleted already: a retried DELETE succeeds
            return True
        if current is None or current.deleted:
            if self.auditor is not None:
                self.auditor.refused("delete", target, "not-found")
            return False
        ts = now_utc()
        version = current.version + 1
        hid = self._history([(rtype, rid, version, ts, True, current.content, current.facility)])[0]
        current.version, current.last_updated, current.deleted, current.change_seq = version, ts, True, hid
        self._clear_index([(rtype, rid)])
        outbox.emit_many(
            self.session, outbox.resource_events([(rtype, rid, version, "deleted", current.facility)])
        )
        self.session.flush()
        self._written("delete", target, "ok")
        return True

    def _write(
        self, res: Json, current: Resource | None, facility: str | None, org_path: str | None
    ) -> WriteResult:
        rtype, rid = res["resourceType"], res["id"]
        h = content_hash(res)
        if current is not None and not current.deleted and current.content_hash == h:
            return WriteResult(
                from_stored(current.content, current.version, current.last_updated), "unchanged"
            )
        ts = now_utc()
        version = 1 if current is None else current.version + 1
        meta = dict(res.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = instant(ts)
        res["meta"] = meta
        content = stored_bytes(res)
        fac = facility if facility is not None else (current.facility if current else None)
        path = org_path if org_path is not None else (current.org_path if current else None)
        hid = self._history([(rtype, rid, version, ts, False, content, fac)])[0]
        if current is None:
            self.session.add(
                Resource(
                    res_type=rtype,
                    res_id=rid,
                    version=version,
                    last_updated=ts,
                    deleted=False,
                    content=content,
                    content_hash=h,
                    facility=fac,
                    org_path=path,
                    patient_id=patient_of(res),
                    change_seq=hid,
                )
            )
            outcome = "created"
        else:
            current.version, current.last_updated, current.deleted = version, ts, False
            current.content, current.content_hash, current.change_seq = content, h, hid
            current.facility, current.org_path, current.patient_id = fac, path, patient_of(res)
            self._clear_index([(rtype, rid)])
            outcome = "updated"
        self._insert_index(index_rows(res))
        outbox.emit_many(self.session, outbox.resource_events([(rtype, rid, version, outcome, fac)]))
        self.session.flush()
        return WriteResult(res, outcome)

    # ---- bulk ------------------------------------------------------------------------------------------
    def bulk_upsert(self, items: Sequence[Incoming]) -> dict[str, int]:
        """Store many validated resources at once: created / updated / unchanged counts.
        A record whose content is unchanged is left alone (idempotent resubmission)."""
        if self.for_caller and any(it.facility != self.writer for it in items):
            raise Forbidden("records are stored as the caller's facility")
        staged = [stage(it.resource, it.facility, it.org_path, it.content_hash) for it in items]
        return write_staged(self.session, staged, now_utc())

    # ---- helpers -----------------------------------------------------------------------------------
    def _history(self, rows: list[tuple[str, str, int, datetime, bool, bytes, str | None]]) -> list[int]:
        """Insert history rows; return their ids (the change sequence) in order."""
        conn = self.session.connection()
        return insert_history(
            conn, [(t, i, v, bind_time(conn, ts), d, c, f) for t, i, v, ts, d, c, f in rows]
        )

    def _clear_index(self, keys: list[tuple[str, str]]) -> None:
        clear_index(self.session.connection(), keys)

    def _insert_index(self, rows: IndexRows) -> None:
        insert_index(self.session.connection(), (rows.tokens, rows.strings, rows.dates, rows.refs))

"""The resource repository every domain uses: versioned create/update/delete, read, vread,
history, and bulk upsert for imports. Search lives in `search.py`.

Every write keeps the previous versions in `resource_history`; a delete is a new version flagged
deleted. `meta.versionId` and `meta.lastUpdated` are set by the store; the submitted
`meta.source` is kept. An update whose content (without `meta`) is unchanged creates no version.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, bindparam, func, or_, select, tuple_
from sqlalchemy.orm import Session

from phip.store.errors import Conflict, Gone, NotFound, PreconditionFailed, StoreError
from phip.store.indexer import DATE_COLS, REF_COLS, STRING_COLS, TOKEN_COLS, IndexRows, index_rows
from phip.store.models import (
    Resource,
    ResourceHistory,
    SearchDate,
    SearchReference,
    SearchString,
    SearchToken,
)
from phip.store.protect import protect, unprotect
from phip.store.search_params import patient_of

Json = dict[str, Any]
INDEX_TABLES = (SearchToken, SearchString, SearchDate, SearchReference)


def content_hash(res: Json) -> str:
    body = {k: v for k, v in res.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def now_utc() -> datetime:
    return datetime.now(UTC)


def _instant(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
    #: computed elsewhere (an import worker) to save the writer the work
    content_hash: str | None = None
    index: IndexRows | None = None


class Repository:
    def __init__(self, session: Session, scope: Scope | None = None):
        self.session = session
        self.scope = scope or Scope()

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
        out: Json = unprotect(orjson.loads(row.content))
        return out

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
        out: Json = unprotect(orjson.loads(h.content))
        return out

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
                None if h.deleted else unprotect(orjson.loads(h.content)),
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
        if self.session.get(Resource, (res["resourceType"], res["id"])) is not None:
            raise Conflict(f"{res['resourceType']}/{res['id']} already exists")
        return self._write(res, None, facility, org_path)

    def update(
        self,
        rtype: str,
        rid: str,
        res: Json,
        if_match: int | None = None,
        facility: str | None = None,
        org_path: str | None = None,
    ) -> WriteResult:
        if res.get("resourceType") != rtype:
            raise StoreError(f"resourceType must be {rtype}", code="invalid")
        if res.get("id") != rid:
            raise StoreError("the id in the body must match the id in the URL", code="invalid")
        current = self.session.get(Resource, (rtype, rid))
        if current is not None and self.scope.clause() is not None and self._row(rtype, rid) is None:
            raise NotFound(f"{rtype}/{rid} not found")
        if if_match is not None and (current is None or current.version != if_match):
            raise PreconditionFailed(f"version {if_match} is not the current version of {rtype}/{rid}")
        return self._write(dict(res), current, facility, org_path)

    def delete(self, rtype: str, rid: str) -> bool:
        current = self._row(rtype, rid)
        if current is None or current.deleted:
            return False
        ts = now_utc()
        version = current.version + 1
        body = orjson.loads(current.content)
        body["meta"] = {**body.get("meta", {}), "versionId": str(version), "lastUpdated": _instant(ts)}
        content = orjson.dumps(body)
        hid = self._history([(rtype, rid, version, ts, True, content, current.facility)])[0]
        current.version, current.last_updated, current.deleted, current.change_seq = version, ts, True, hid
        self._clear_index([(rtype, rid)])
        self.session.flush()
        return True

    def _write(
        self, res: Json, current: Resource | None, facility: str | None, org_path: str | None
    ) -> WriteResult:
        rtype, rid = res["resourceType"], res["id"]
        h = content_hash(res)
        if current is not None and not current.deleted and current.content_hash == h:
            return WriteResult(unprotect(orjson.loads(current.content)), "unchanged")
        ts = now_utc()
        version = 1 if current is None else current.version + 1
        meta = dict(res.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = _instant(ts)
        res["meta"] = meta
        content = orjson.dumps(protect(res))
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
        self.session.flush()
        return WriteResult(res, outcome)

    # ---- bulk ------------------------------------------------------------------------------------------
    def bulk_upsert(self, items: Sequence[Incoming]) -> dict[str, int]:
        """Store many validated resources at once: created / updated / unchanged counts.
        A record whose content is unchanged is left alone (idempotent resubmission)."""
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        if not items:
            return counts
        # the last occurrence of a (type, id) in the batch wins
        latest: dict[tuple[str, str], Incoming] = {}
        for it in items:
            latest[(it.resource["resourceType"], it.resource["id"])] = it
        counts["unchanged"] += len(items) - len(latest)
        keys = list(latest)
        existing: dict[tuple[str, str], tuple[int, str, bool]] = {}
        for chunk in _chunks(keys, 500):
            rows = self.session.execute(
                select(
                    Resource.res_type,
                    Resource.res_id,
                    Resource.version,
                    Resource.content_hash,
                    Resource.deleted,
                ).where(key_clause(Resource.res_type, Resource.res_id, chunk))
            )
            for t, i, v, h, d in rows:
                existing[(t, i)] = (v, h, d)
        ts = now_utc()
        stamp = _instant(ts)
        new_rows: list[Json] = []
        upd_rows: list[Json] = []
        hist: list[tuple[str, str, int, datetime, bool, bytes, str | None]] = []
        index = IndexRows()
        for key, it in latest.items():
            res = dict(it.resource)
            h = it.content_hash or content_hash(res)
            prev = existing.get(key)
            if prev is not None and prev[1] == h and not prev[2]:
                counts["unchanged"] += 1
                continue
            version = 1 if prev is None else prev[0] + 1
            res["meta"] = {**(res.get("meta") or {}), "versionId": str(version), "lastUpdated": stamp}
            content = orjson.dumps(protect(res))
            row = {
                "res_type": key[0],
                "res_id": key[1],
                "version": version,
                "last_updated": ts,
                "deleted": False,
                "content": content,
                "content_hash": h,
                "facility": it.facility,
                "org_path": it.org_path,
                "patient_id": patient_of(res),
            }
            (new_rows if prev is None else upd_rows).append(row)
            hist.append((key[0], key[1], version, ts, False, content, it.facility))
            index.extend(it.index if it.index is not None else index_rows(res))
        if not hist:
            return counts
        hids = self._history(hist)
        for row, hid in zip(new_rows + upd_rows, hids, strict=True):
            row["change_seq"] = hid
        conn = self.session.connection()
        if new_rows:
            fast_insert(conn, _t(Resource), new_rows)
        if upd_rows:
            self._clear_index([(r["res_type"], r["res_id"]) for r in upd_rows])
            table = _t(Resource)
            stmt = (
                table.update()
                .where(table.c.res_type == bindparam("k_type"), table.c.res_id == bindparam("k_id"))
                .values({c: bindparam(c) for c in upd_rows[0] if c not in ("res_type", "res_id")})
            )
            conn.execute(stmt, [{**r, "k_type": r["res_type"], "k_id": r["res_id"]} for r in upd_rows])
        self._insert_index(index)
        counts["created"] += len(new_rows)
        counts["updated"] += len(upd_rows)
        return counts

    # ---- helpers -----------------------------------------------------------------------------------
    def _history(self, rows: list[tuple[str, str, int, datetime, bool, bytes, str | None]]) -> list[int]:
        """Insert history rows; return their ids (the change sequence) in order."""
        values = [
            {
                "res_type": t,
                "res_id": i,
                "version": v,
                "last_updated": ts,
                "deleted": d,
                "content": c,
                "facility": f,
            }
            for t, i, v, ts, d, c, f in rows
        ]
        conn = self.session.connection()
        table = _t(ResourceHistory)
        if conn.dialect.name == "sqlite":
            # Writers are serialised and we hold the write lock from the first insert until commit:
            # the rowids of one executemany are consecutive and end at max(hid).
            fast_insert(conn, table, values)
            last = conn.execute(select(func.max(table.c.hid))).scalar_one()
            return list(range(last - len(values) + 1, last + 1))
        result = conn.execute(table.insert().returning(table.c.hid, sort_by_parameter_order=True), values)
        return [r[0] for r in result]

    def _clear_index(self, keys: list[tuple[str, str]]) -> None:
        conn = self.session.connection()
        for table in INDEX_TABLES:
            t = _t(table)
            for chunk in _chunks(keys, 500):
                conn.execute(t.delete().where(key_clause(t.c.res_type, t.c.res_id, chunk)))

    def _insert_index(self, rows: IndexRows) -> None:
        conn = self.session.connection()
        for table, cols, data in (
            (SearchToken, TOKEN_COLS, rows.tokens),
            (SearchString, STRING_COLS, rows.strings),
            (SearchDate, DATE_COLS, rows.dates),
            (SearchReference, REF_COLS, rows.refs),
        ):
            if data:
                insert_tuples(conn, _t(table).name, cols, data)


def key_clause(type_col: Any, id_col: Any, keys: Sequence[tuple[str, str]]) -> Any:
    """(type, id) IN keys, written as `type = t AND id IN (...)` per type so that the primary-key
    index is used on every database (row-value IN lists are scanned by SQLite)."""
    by_type: dict[str, list[str]] = {}
    for t, i in keys:
        by_type.setdefault(t, []).append(i)
    return or_(*[and_(type_col == t, id_col.in_(ids)) for t, ids in by_type.items()])


def insert_tuples(conn: Any, table: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """executemany of plain string tuples straight to the driver."""
    if conn.dialect.name == "postgresql":
        # COPY is several times faster than executemany on PostgreSQL
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    conn.exec_driver_sql(sql, rows)


_processors: dict[tuple[str, str, str], Any] = {}


def fast_insert(conn: Any, table: Table, rows: list[Json]) -> None:
    """executemany straight to the driver (the rows' keys are the columns; values go through the
    column types' bind processors once per distinct object), skipping per-row SQL compilation."""
    cols = list(rows[0])
    dialect = conn.dialect
    marks = ", ".join(["?"] * len(cols)) if dialect.paramstyle == "qmark" else ", ".join(["%s"] * len(cols))
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})"
    procs = []
    for c in cols:
        key = (dialect.name, table.name, c)
        if key not in _processors:
            _processors[key] = table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
        procs.append(_processors[key])
    if not any(procs):
        data = [tuple(r[c] for c in cols) for r in rows]
    else:
        cache: dict[tuple[int, int], Any] = {}

        def conv(i: int, v: Any) -> Any:
            p = procs[i]
            if p is None or v is None:
                return v
            k = (i, id(v))
            if k not in cache:
                cache[k] = (v, p(v))
            return cache[k][1]

        data = [tuple(conv(i, r[c]) for i, c in enumerate(cols)) for r in rows]
    conn.exec_driver_sql(sql, data)


def _t(model: Any) -> Table:
    return cast(Table, model.__table__)


def _chunks(seq: Sequence[Any], n: int) -> list[Sequence[Any]]:
    return [seq[i : i + n] for i in range(0, len(seq), n)]

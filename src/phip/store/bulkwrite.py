"""The bulk write path of the store: many validated resources per statement, with everything that
does not depend on the store's current state (stored bytes, content hash, Patient compartment,
index rows) computed beforehand, possibly in another process (`stage`). The writer only decides
created / updated / unchanged and moves tuples to the database (COPY on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from phip.store import outbox
from phip.store.codec import content_hash as hash_of
from phip.store.codec import stored_bytes
from phip.store.indexer import DATE_COLS, REF_COLS, STRING_COLS, TOKEN_COLS, index_rows
from phip.store.models import (
    Resource,
    SearchDate,
    SearchReference,
    SearchString,
    SearchToken,
)
from phip.store.search_params import patient_of

Json = dict[str, Any]
#: (tokens, strings, dates, refs): lists of tuples in the column order of indexer.*_COLS
IndexTuple = tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[tuple[str, ...]], list[tuple[str, ...]]]
Key = tuple[str, str]
#: (version, content hash, deleted, facility) of a stored resource
Current = tuple[int, str, bool, str | None]
INDEX_TABLES = (SearchToken, SearchString, SearchDate, SearchReference)
RESOURCE_COLS = (
    "res_type",
    "res_id",
    "version",
    "last_updated",
    "deleted",
    "content",
    "content_hash",
    "facility",
    "org_path",
    "patient_id",
    "change_seq",
)
HISTORY_COLS = ("hid", "res_type", "res_id", "version", "last_updated", "deleted", "content", "facility")


class Staged(NamedTuple):
    """A validated resource ready for the writer."""

    rtype: str
    rid: str
    facility: str | None
    org_path: str | None
    content: bytes
    content_hash: str
    patient_id: str | None
    rows: IndexTuple


def index_tuple(res: Json) -> IndexTuple:
    rows = index_rows(res)
    return rows.tokens, rows.strings, rows.dates, rows.refs


def stage(
    res: Json,
    facility: str | None = None,
    org_path: str | None = None,
    content_hash: str | None = None,
    index: IndexTuple | None = None,
) -> Staged:
    return Staged(
        res["resourceType"],
        res["id"],
        facility,
        org_path,
        stored_bytes(res),
        content_hash or hash_of(res),
        patient_of(res),
        index if index is not None else index_tuple(res),
    )


def write_staged(
    session: Session, items: Sequence[Staged], now: datetime, existing: dict[Key, Current] | None = None
) -> dict[str, int]:
    """Store many staged resources: created / updated / unchanged counts. The last occurrence of
    a (type, id) wins; a record whose content hash equals the current version's is unchanged.
    `existing` is `current(session, keys)` when the caller has already fetched it."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if not items:
        return counts
    latest: dict[tuple[str, str], Staged] = {}
    for it in items:
        latest[(it.rtype, it.rid)] = it
    counts["unchanged"] += len(items) - len(latest)
    if existing is None:
        existing = current(session, list(latest))
    new: list[Staged] = []
    upd: list[tuple[Staged, int]] = []
    for key, it in latest.items():
        prev = existing.get(key)
        if prev is None:
            new.append(it)
        elif prev[1] == it.content_hash and not prev[2]:
            counts["unchanged"] += 1
        else:
            upd.append((it, prev[0] + 1))
    if not new and not upd:
        return counts
    conn = session.connection()
    ts = bind_time(conn, now)
    versions = [(it, 1) for it in new] + upd
    hids = insert_history(
        conn, [(it.rtype, it.rid, v, ts, False, it.content, it.facility) for it, v in versions]
    )
    if new:
        rows = [
            (
                it.rtype,
                it.rid,
                1,
                ts,
                False,
                it.content,
                it.content_hash,
                it.facility,
                it.org_path,
                it.patient_id,
                hid,
            )
            for it, hid in zip(new, hids, strict=False)
        ]
        insert_tuples(conn, _t(Resource).name, RESOURCE_COLS, rows)
    if upd:
        clear_index(conn, [(it.rtype, it.rid) for it, _v in upd])
        table = _t(Resource)
        stmt = (
            table.update()
            .where(table.c.res_type == bindparam("k_type"), table.c.res_id == bindparam("k_id"))
            .values({c: bindparam(c) for c in RESOURCE_COLS[2:]})
        )
        conn.execute(
            stmt,
            [
                {
                    "k_type": it.rtype,
                    "k_id": it.rid,
                    "version": v,
                    "last_updated": now,
                    "deleted": False,
                    "content": it.content,
                    "content_hash": it.content_hash,
                    "facility": it.facility,
                    "org_path": it.org_path,
                    "patient_id": it.patient_id,
                    "change_seq": hid,
                }
                for (it, v), hid in zip(upd, hids[len(new) :], strict=True)
            ],
        )
    written = [it for it, _v in versions]
    outbox.emit_many(
        session,
        outbox.resource_events(
            (it.rtype, it.rid, v, "created" if v == 1 else "updated", it.facility) for it, v in versions
        ),
    )
    tokens, strings, dates, refs = ([row for it in written for row in it.rows[n]] for n in range(4))
    insert_index(conn, (tokens, strings, dates, refs))
    counts["created"] += len(new)
    counts["updated"] += len(upd)
    return counts


def current(session: Session, keys: Sequence[Key]) -> dict[Key, Current]:
    """(version, content hash, deleted, facility) of the stored resources among `keys`."""
    out: dict[Key, Current] = {}
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # one array parameter per type: no 500-parameter statements to build, plan and bind
        by_type: dict[str, list[str]] = {}
        for t, i in keys:
            by_type.setdefault(t, []).append(i)
        for t, ids in by_type.items():
            found = conn.exec_driver_sql(
                "SELECT res_id, version, content_hash, deleted, facility FROM resource "
                "WHERE res_type = %s AND res_id = ANY(%s)",
                (t, ids),
            )
            for r, v, h, d, f in found:
                out[(t, r)] = (v, h, d, f)
        return out
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(
                Resource.res_type,
                Resource.res_id,
                Resource.version,
                Resource.content_hash,
                Resource.deleted,
                Resource.facility,
            ).where(key_clause(Resource.res_type, Resource.res_id, keys[start : start + 500]))
        )
        for rtype, rid, v, h, d, f in rows:
            out[(rtype, rid)] = (v, h, d, f)
    return out


def insert_index(conn: Any, rows: IndexTuple) -> None:
    """Index rows (tokens, strings, dates, references) into their tables."""
    for (model, cols), data in zip(
        (
            (SearchToken, TOKEN_COLS),
            (SearchString, STRING_COLS),
            (SearchDate, DATE_COLS),
            (SearchReference, REF_COLS),
        ),
        rows,
        strict=True,
    ):
        if data:
            insert_tuples(conn, _t(model).name, cols, data)


def bind_time(conn: Any, now: datetime) -> Any:
    """`now` as the driver wants it for a DateTime column (converted once, not per row)."""
    proc = _t(Resource).c.last_updated.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return proc(now) if proc else now


def insert_history(conn: Any, rows: list[tuple[Any, ...]]) -> list[int]:
    """Insert history rows (HISTORY_COLS without `hid`); return their ids, the global change
    sequence, in row order."""
    if conn.dialect.name == "postgresql":
        seq = conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('resource_history', 'hid')) FROM generate_series(1, %s)",
            (len(rows),),
        )
        hids = sorted(r[0] for r in seq)
        insert_tuples(
            conn, "resource_history", HISTORY_COLS, [(h, *r) for h, r in zip(hids, rows, strict=True)]
        )
        return hids
    # SQLite: writers are serialised and this transaction holds the write lock from its first
    # insert until commit, so the rowids of one executemany are consecutive and end at max(hid)
    insert_tuples(conn, "resource_history", HISTORY_COLS[1:], rows)
    last = conn.execute(text("SELECT max(hid) FROM resource_history")).scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def clear_index(conn: Any, keys: Sequence[tuple[str, str]]) -> None:
    for table in INDEX_TABLES:
        t = _t(table)
        for i in range(0, len(keys), 500):
            conn.execute(t.delete().where(key_clause(t.c.res_type, t.c.res_id, keys[i : i + 500])))


def key_clause(type_col: Any, id_col: Any, keys: Sequence[tuple[str, str]]) -> Any:
    """(type, id) IN keys, written as `type = t AND id IN (...)` per type so that the primary-key
    index is used on every database (row-value IN lists are scanned by SQLite)."""
    from sqlalchemy import and_, or_

    by_type: dict[str, list[str]] = {}
    for t, i in keys:
        by_type.setdefault(t, []).append(i)
    return or_(*[and_(type_col == t, id_col.in_(ids)) for t, ids in by_type.items()])


def insert_tuples(conn: Any, table: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Rows (tuples in `cols` order, values as the driver takes them) straight to the driver."""
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


def _t(model: Any) -> Table:
    from typing import cast

    return cast(Table, model.__table__)

"""The transactional outbox: work that follows a commit, without losing it on a crash.

A write that other domains follow (a Patient the person index links, later a referral's timers, a
surveillance signal) adds an event to `outbox_event` in the same transaction as the write: both
are committed, or neither. After the commit the events are delivered to the subscribers that
follow their topic, each in its own transaction together with the subscriber's new position, so
an event's effect is committed exactly once per subscriber even if the process dies in between
(the next delivery starts where the position says). Handlers must be idempotent all the same:
`phip outbox retry` and a position set back deliver an event again.

Who subscribes is declared by the domains: a module of theirs, declared as an entry point of the
group `phip.domains` (`plugins.py`), calls `subscribe()` when imported. The store knows no
domain; `deliver()` loads them. Which resource types announce their writes is declared here
(`EVENT_TYPES`), so an event is never missed because a process had not loaded its subscriber.

A subscriber that fails keeps its position and tries again at the next delivery; after
`MAX_ATTEMPTS` failures in a row the batch is delivered one event at a time and the event that
fails is parked (`outbox_parked`) so that those after it are not held up.

On PostgreSQL, sequence numbers are handed out before commit, so a transaction still running
can commit an event numbered below one already visible. Each event there carries its writing
transaction's id (`txid`, a column default); delivery goes in (txid, seq) order and only
takes events of transactions older than the oldest one still running
(`pg_snapshot_xmin(pg_current_snapshot())`), so the set it reads from never grows behind its
position: a long transaction delays delivery, it never loses an event. SQLite has one writer at
a time, and delivery there goes in seq order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, literal, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from phip.store import plugins
from phip.store.codec import now_utc
from phip.store.models import OutboxCursor, OutboxEvent, OutboxParked

log = logging.getLogger(__name__)

#: resource types whose creates, updates and deletes are events (topic `resource.<Type>`)
EVENT_TYPES = frozenset({"Patient"})
#: topics that are not resource writes, declared by the code that emits them
_TOPICS: set[str] = set()
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Event:
    seq: int
    topic: str
    key: str
    payload: dict[str, Any]
    created_at: datetime
    txid: int = 0


#: a subscriber's position: (transaction id, seq); the transaction id is 0 on SQLite
Position = tuple[int, int]


#: a subscriber's handler: (session, events in order, context) -> None; it must not commit
Handler = Callable[[Session, list[Event], Mapping[str, Any]], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    topics: frozenset[str]
    handler: Handler
    batch: int = 500


@dataclass
class Delivery:
    """What one delivery did, per subscriber."""

    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    parked: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "failed": self.failed, "parked": self.parked}


_SUBSCRIBERS: dict[str, Subscriber] = {}


def context(var_dir: Path) -> dict[str, Any]:
    """What subscribers are given to do their work (the working folder: models, files)."""
    return {"var_dir": var_dir}


def resource_topic(rtype: str) -> str:
    return f"resource.{rtype}"


def declare_topic(topic: str) -> str:
    """Declare a topic that is not a resource write (the emitting module does, at import)."""
    _TOPICS.add(topic)
    return topic


def known_topics() -> frozenset[str]:
    return frozenset({resource_topic(t) for t in EVENT_TYPES} | _TOPICS)


def subscribe(name: str, topics: Iterable[str], handler: Handler, batch: int = 500) -> Subscriber:
    """Register a subscriber (once per name; registering the same again is a no-op)."""
    topics = frozenset(topics)
    unknown = topics - known_topics()
    if unknown:
        raise ValueError(f"{name} subscribes to undeclared topics {sorted(unknown)}")
    sub = Subscriber(name, topics, handler, batch)
    old = _SUBSCRIBERS.get(name)
    if old is not None and (old.topics, old.handler) != (sub.topics, sub.handler):
        raise ValueError(f"another subscriber is already registered as {name}")
    _SUBSCRIBERS[name] = sub
    return sub


def subscribers() -> dict[str, Subscriber]:
    """Every subscriber, the domains' modules loaded first."""
    plugins.load()
    return dict(_SUBSCRIBERS)


# ---- writing ------------------------------------------------------------------------------------


def emit(
    session: Session | Connection, topic: str, key: str, payload: Mapping[str, Any] | None = None
) -> None:
    """Add one event to the current transaction."""
    emit_many(session, [(topic, key, payload or {})])


def emit_many(session: Session | Connection, events: Iterable[tuple[str, str, Mapping[str, Any]]]) -> int:
    """Add events to the current transaction (in order); returns how many."""
    known = known_topics()
    now = now_utc()
    rows = []
    for topic, key, payload in events:
        if topic not in known:
            raise ValueError(f"undeclared outbox topic {topic}")
        rows.append(
            {"topic": topic, "key": key, "payload": orjson.dumps(dict(payload)).decode(), "created_at": now}
        )
    if rows:
        conn = session.connection() if isinstance(session, Session) else session
        conn.execute(insert(OutboxEvent), rows)
        if isinstance(session, Session):
            session.info["outbox_emitted"] = True
    return len(rows)


def resource_events(
    writes: Iterable[tuple[str, str, int, str, str | None]],
) -> list[tuple[str, str, Mapping[str, Any]]]:
    """Events for resource writes `(type, id, version, outcome, facility)` of the announced types."""
    return [
        (resource_topic(t), f"{t}/{i}", {"version": v, "outcome": o, "facility": f})
        for t, i, v, o, f in writes
        if t in EVENT_TYPES
    ]


def emitted(session: Session) -> bool:
    """Did this session add events (since it last asked)? Used to deliver right after a commit."""
    return bool(session.info.pop("outbox_emitted", False))


# ---- delivering ---------------------------------------------------------------------------------


def deliver(
    session: Session,
    context: Mapping[str, Any] | None = None,
    names: Iterable[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
    max_batches: int | None = None,
) -> Delivery:
    """Deliver pending events to the subscribers (all, or `names`), batch by batch (at most
    `max_batches` per subscriber), each batch committed with the subscriber's new position.
    Safe to run from several processes: positions are read and moved under the database's
    write lock, and a handler is idempotent."""
    context = context or {}
    subs = subscribers()
    chosen = [subs[n] for n in names] if names is not None else list(subs.values())
    result = Delivery()
    for sub in chosen:
        _deliver_one(session, sub, context, result, progress, max_batches)
    return result


def _deliver_one(
    session: Session,
    sub: Subscriber,
    context: Mapping[str, Any],
    result: Delivery,
    progress: Callable[[str, int], None] | None,
    max_batches: int | None,
) -> None:
    result.delivered.setdefault(sub.name, 0)
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        cursor = _cursor(session, sub.name, wait=max_batches is None)
        if cursor is None:  # another deliverer holds this subscriber: it will deliver
            session.rollback()
            return
        start = (cursor.txid_position, cursor.position)
        events, reached = _next_batch(session, sub, start)
        if reached == start:
            if cursor.attempts >= MAX_ATTEMPTS:  # the backlog went through one by one: batches again
                cursor.attempts = 0
                session.commit()
            else:
                session.rollback()
            return
        one_by_one = cursor.attempts >= MAX_ATTEMPTS
        batch = events[:1] if one_by_one else events
        upto = (batch[-1].txid, batch[-1].seq) if one_by_one and batch else reached
        try:
            if batch:
                sub.handler(session, batch, context)
            values: dict[str, Any] = {
                "txid_position": upto[0],
                "position": upto[1],
                "last_error": "",
                "updated_at": now_utc(),
            }
            if not one_by_one:  # one by one goes on until the backlog is through
                values["attempts"] = 0
            moved = session.execute(  # compare and set: a position only moves from where it was read
                update(OutboxCursor)
                .where(
                    OutboxCursor.subscriber == sub.name,
                    OutboxCursor.txid_position == start[0],
                    OutboxCursor.position == start[1],
                )
                .values(**values)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()  # another deliverer moved it meanwhile: its work stands, not ours
                return
            session.commit()
        except Exception as exc:  # a subscriber's failure must not stop the others
            session.rollback()
            # the exception's class, not its message: a message may hold personal data
            where = f"event {batch[0].seq}" if len(batch) == 1 else f"events {batch[0].seq}-{batch[-1].seq}"
            why = f"{type(exc).__name__} at {where}"
            log.warning("outbox subscriber %s failed: %s", sub.name, why)
            if isinstance(exc, OperationalError | IntegrityError):
                # a busy database or a race with another deliverer, not the subscriber's fault:
                # tried again at the next delivery, never parked for it
                result.failed[sub.name] = why
                return
            cursor = _cursor(session, sub.name)
            assert cursor is not None
            if one_by_one:
                session.add(
                    OutboxParked(subscriber=sub.name, seq=batch[0].seq, error=why, parked_at=now_utc())
                )
                cursor.txid_position, cursor.position = batch[0].txid, batch[0].seq
                result.parked[sub.name] = result.parked.get(sub.name, 0) + 1
            else:
                cursor.attempts += 1
                result.failed[sub.name] = why
            cursor.last_error, cursor.updated_at = why, now_utc()
            session.commit()
            if not one_by_one:
                return
            continue
        result.delivered[sub.name] += len(batch)
        if progress is not None and batch:
            progress(sub.name, len(batch))


def _next_batch(session: Session, sub: Subscriber, position: Position) -> tuple[list[Event], Position]:
    """The subscriber's next events after `position`, and the position they reach (events of
    other topics are passed over)."""
    cols = (
        OutboxEvent.seq,
        OutboxEvent.topic,
        OutboxEvent.key,
        OutboxEvent.payload,
        OutboxEvent.created_at,
        OutboxEvent.txid,
    )
    if _by_transaction(session):
        horizon = session.scalar(text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"))
        q = (
            select(*cols)
            .where(
                tuple_(OutboxEvent.txid, OutboxEvent.seq)
                > tuple_(literal(position[0]), literal(position[1])),
                OutboxEvent.txid < horizon,
            )
            .order_by(OutboxEvent.txid, OutboxEvent.seq)
        )
    else:
        q = select(*cols).where(OutboxEvent.seq > position[1]).order_by(OutboxEvent.seq)
    rows = session.execute(q.limit(sub.batch * 4)).all()
    out: list[Event] = []
    reached = position
    for seq, topic, key, payload, created, txid in rows:
        reached = (txid or 0, seq)
        if topic in sub.topics:
            out.append(Event(seq, topic, key, orjson.loads(payload), created, txid or 0))
            if len(out) >= sub.batch:
                break
    return out, reached


def _by_transaction(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _cursor(session: Session, name: str, wait: bool = True) -> OutboxCursor | None:
    """The subscriber's position, locked for this delivery (PostgreSQL; SQLite has one writer).
    Without `wait`, None when another deliverer holds it (a request does not queue behind the
    background loop); None too when another deliverer made its first cursor at the same moment
    (the request's delivery and the background loop, both first): that one delivers."""
    cursor = session.scalars(
        select(OutboxCursor).where(OutboxCursor.subscriber == name).with_for_update(skip_locked=not wait)
    ).first()
    if cursor is None and not wait and session.get(OutboxCursor, name) is not None:
        return None
    if cursor is None:
        cursor = OutboxCursor(
            subscriber=name, position=0, txid_position=0, attempts=0, last_error="", updated_at=now_utc()
        )
        session.add(cursor)
        try:
            session.flush()
        except IntegrityError:  # another deliverer made the subscriber's first cursor just now
            session.rollback()
            return None
    return cursor


def mark(session: Session) -> Position:
    """A position every event already committed is at or before (take it before a batch job
    reads what those events announce; events after it are delivered again, harmlessly)."""
    if _by_transaction(session):
        horizon = session.scalar(text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"))
        return (int(horizon or 1) - 1, 2**62)
    return (0, last_seq(session))


def set_position(session: Session, name: str, position: Position) -> None:
    """Move a subscriber's position (a batch job that covered everything up to `position`)."""
    cursor = _cursor(session, name)
    assert cursor is not None
    cursor.txid_position, cursor.position = position
    cursor.attempts, cursor.last_error = 0, ""
    cursor.updated_at = now_utc()


def last_seq(session: Session) -> int:
    return int(session.scalar(select(func.max(OutboxEvent.seq))) or 0)


def retry_parked(session: Session, context: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Deliver every parked event again, one at a time; those that now succeed leave the list."""
    subs = subscribers()
    done: dict[str, int] = {}
    for parked in session.scalars(select(OutboxParked).order_by(OutboxParked.seq)).all():
        sub = subs.get(parked.subscriber)
        row = session.get(OutboxEvent, parked.seq)
        if sub is None or row is None:
            continue
        name, seq = parked.subscriber, parked.seq
        event = Event(row.seq, row.topic, row.key, orjson.loads(row.payload), row.created_at)
        try:
            sub.handler(session, [event], context or {})
            session.execute(
                delete(OutboxParked).where(OutboxParked.subscriber == name, OutboxParked.seq == seq)
            )
            session.commit()
            done[name] = done.get(name, 0) + 1
        except Exception as exc:  # stays parked
            session.rollback()
            log.warning("outbox retry of %s for %s failed: %s", seq, name, type(exc).__name__)
    return done


def status(session: Session) -> dict[str, Any]:
    """Each subscriber's position, pending events, failures and parked events."""
    last = last_seq(session)
    out: dict[str, Any] = {"last_event": last, "subscribers": {}}
    for name, sub in sorted(subscribers().items()):
        cursor = session.get(OutboxCursor, name)
        position = (cursor.txid_position, cursor.position) if cursor else (0, 0)
        after = (
            tuple_(OutboxEvent.txid, OutboxEvent.seq) > tuple_(literal(position[0]), literal(position[1]))
            if _by_transaction(session)
            else OutboxEvent.seq > position[1]
        )
        pending = session.scalar(select(func.count()).where(after, OutboxEvent.topic.in_(sub.topics)))
        parked = session.scalar(select(func.count()).where(OutboxParked.subscriber == name))
        out["subscribers"][name] = {
            "topics": sorted(sub.topics),
            "position": position[1],
            "pending": int(pending or 0),
            "attempts": cursor.attempts if cursor else 0,
            "last_error": cursor.last_error if cursor else "",
            "parked": int(parked or 0),
        }
    return out


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

"""Tables of the versioned FHIR resource store, its search index, quarantine and submissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from phip.store.db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")


class Resource(Base):
    """The current version of every resource (deleted ones stay, flagged)."""

    __tablename__ = "resource"

    res_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    res_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: orjson bytes of the resource with meta.versionId / meta.lastUpdated as stored
    content: Mapped[bytes] = mapped_column(LargeBinary)
    #: sha256 of the content without `meta`: an unchanged resubmission is recognised by it
    content_hash: Mapped[str] = mapped_column(String(64))
    #: submitting facility and its org-unit path: read scope is enforced on these columns
    facility: Mapped[str | None] = mapped_column(String(24), index=True)
    org_path: Mapped[str | None] = mapped_column(String(80), index=True)
    #: the Patient compartment this resource belongs to (its subject/patient), for scoped search
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    #: id of the history row of this version: a monotonically increasing change sequence
    change_seq: Mapped[int] = mapped_column(BigId, index=True)

    __table_args__ = (
        # patient-scoped search walks one patient's resources of a type in id order
        Index("ix_resource_type_patient", "res_type", "patient_id", "res_id"),
        # scoped listing: a type within an org-unit subtree
        Index("ix_resource_type_org_path", "res_type", "org_path", "res_id"),
    )


class ResourceHistory(Base):
    """Every version ever stored; `hid` is the global change sequence."""

    __tablename__ = "resource_history"

    hid: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(40))
    res_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    facility: Mapped[str | None] = mapped_column(String(24))

    __table_args__ = (UniqueConstraint("res_type", "res_id", "version"),)


class SearchToken(Base):
    """token parameters (identifier, code, status, gender, _id …): one row per system|code."""

    __tablename__ = "search_token"

    row: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(40))
    res_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(40))
    system: Mapped[str] = mapped_column(String(200), default="")
    code: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_search_token_lookup", "res_type", "param", "code", "system"),
        Index("ix_search_token_res", "res_type", "res_id"),
    )


class SearchString(Base):
    """string parameters (name, address): normalised values, hanzi substrings and pinyin keys."""

    __tablename__ = "search_string"

    row: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(40))
    res_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_search_string_lookup", "res_type", "param", "value"),
        Index("ix_search_string_res", "res_type", "res_id"),
    )


class SearchDate(Base):
    """date parameters as an interval [low, high) of ISO instants (UTC)."""

    __tablename__ = "search_date"

    row: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(40))
    res_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(40))
    low: Mapped[str] = mapped_column(String(32))
    high: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_search_date_lookup", "res_type", "param", "low"),
        Index("ix_search_date_res", "res_type", "res_id"),
    )


class SearchReference(Base):
    """reference parameters (subject, patient, encounter, organization, performer …)."""

    __tablename__ = "search_reference"

    row: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(40))
    res_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_search_reference_lookup", "param", "target_type", "target_id", "res_type"),
        Index("ix_search_reference_res", "res_type", "res_id"),
    )


class Submission(Base):
    """One submission (a bulk file or folder, a Bundle, a REST write) by one facility."""

    __tablename__ = "submission"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    facility: Mapped[str | None] = mapped_column(String(24), index=True)
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # running / completed / failed
    submitted: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    #: the period the data covers (earliest and latest clinical date seen)
    period_start: Mapped[str | None] = mapped_column(String(32))
    period_end: Mapped[str | None] = mapped_column(String(32))
    #: lag of the submission behind the data's own dates, in days (median and max)
    lag_days_median: Mapped[float | None] = mapped_column()
    lag_days_max: Mapped[float | None] = mapped_column()
    #: JSON {days: records}: the lag distribution (kept so a resumed import continues it)
    lag_histogram: Mapped[str] = mapped_column(Text, default="{}")


class SubmissionBatch(Base):
    """Per facility and data month within a submission: counts and lag (connection, timeliness)."""

    __tablename__ = "submission_batch"

    submission_id: Mapped[str] = mapped_column(ForeignKey("submission.id"), primary_key=True)
    facility: Mapped[str] = mapped_column(String(24), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    records: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    first_sent: Mapped[str | None] = mapped_column(String(32))
    last_sent: Mapped[str | None] = mapped_column(String(32))
    #: JSON {days: records}: the batch's records by their lag behind their own clinical date
    lag_histogram: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")


class Quarantine(Base):
    """Records that failed validation: kept with their raw payload and machine-readable reasons."""

    __tablename__ = "quarantine"

    qid: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submission.id"), index=True)
    facility: Mapped[str | None] = mapped_column(String(24), index=True)
    res_type: Mapped[str | None] = mapped_column(String(40))
    res_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)  # file and line, or Bundle entry
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    #: JSON list of {"code", "path", "detail"}
    reasons: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: sha256 of the raw payload: a resubmitted bad record is not quarantined twice
    raw_hash: Mapped[str] = mapped_column(String(64), index=True)


class IngestCheckpoint(Base):
    """How far a submission's import has durably got in each file (for resume after a crash);
    written in the same transaction as the records it covers."""

    __tablename__ = "ingest_checkpoint"

    submission_id: Mapped[str] = mapped_column(ForeignKey("submission.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    size: Mapped[int] = mapped_column(BigId)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(BigInteger)
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class BulkJob(Base):
    """An asynchronous bulk export or import job (FHIR Bulk Data kick-off / status / download)."""

    __tablename__ = "bulk_job"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # export / import
    owner: Mapped[str] = mapped_column(String(120))  # the principal that started it
    request: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # queued / running / completed / failed
    progress: Mapped[str] = mapped_column(String(200), default="")
    folder: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxEvent(Base):
    """An event of the transactional outbox: written in the same transaction as the change it
    announces, delivered to the subscribers that follow its topic after the commit."""

    __tablename__ = "outbox_event"
    #: never reuse a number, even after old events are pruned (subscribers' positions rely on it)
    __table_args__ = (Index("ix_outbox_event_txid_seq", "txid", "seq"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(80), index=True)
    #: what the event is about, e.g. `Patient/123` (never a personal value)
    key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: PostgreSQL: the writing transaction's id (a column default there); delivery goes in
    #: (txid, seq) order and only below the oldest transaction still running. SQLite: null.
    txid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OutboxCursor(Base):
    """How far a subscriber has come through the outbox, and its failures since it last moved."""

    __tablename__ = "outbox_cursor"

    subscriber: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    #: PostgreSQL: the transaction id half of the position (events are ordered by txid, seq)
    txid_position: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxParked(Base):
    """An event a subscriber failed on repeatedly: set aside so that the events after it are not
    held up, and delivered again by `phip outbox retry`."""

    __tablename__ = "outbox_parked"

    subscriber: Mapped[str] = mapped_column(String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    error: Mapped[str] = mapped_column(Text, default="")
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

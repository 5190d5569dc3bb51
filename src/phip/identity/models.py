"""Tables of the person index in the operational database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phip.store.db import Base
from phip.store.models import BigId


class PersonRecordRow(Base):
    """A source record (a Patient, or a linked CSV row) in the index: its person and its derived
    identity features, SM4-encrypted (they hold identity numbers, names and phones)."""

    __tablename__ = "person_record"

    record_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    person_id: Mapped[str | None] = mapped_column(String(64), index=True)
    features: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: how the record came to its person: auto (the model) or manual (a steward; the model never
    #: moves it again)
    link_status: Mapped[str] = mapped_column(String(12), default="auto", server_default="auto")
    #: match probability of the link that placed it (None: first record of its person, or manual)
    link_prob: Mapped[float | None] = mapped_column(Float)


class PersonRow(Base):
    """A person of the index with its golden record (SM4-encrypted JSON: values and provenance)."""

    __tablename__ = "person"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(12))  # active / merged (into `merged_into`) / empty
    merged_into: Mapped[str | None] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(Integer)
    golden: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NoMatchRule(Base):
    """A steward's decision that two records are different people (record_a < record_b): the
    model never puts them in one person again."""

    __tablename__ = "person_no_match"

    record_a: Mapped[str] = mapped_column(String(120), primary_key=True)
    record_b: Mapped[str] = mapped_column(String(120), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, index=True)

    __table_args__ = (Index("ix_person_no_match_b", "record_b"),)


class ReviewItem(Base):
    """A possible match (probability in the review band) of two records in different persons,
    waiting for a steward: open → match / no-match (or stale when the records moved meanwhile)."""

    __tablename__ = "person_review"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(120), index=True)
    other_id: Mapped[str] = mapped_column(String(120), index=True)
    probability: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (Index("ux_person_review_pair", "record_id", "other_id", unique=True),)


class PersonEvent(Base):
    """A manual decision (link, unlink, merge, review decision) or its reversal. `before` and
    `after` hold the state of every record and person it touched (ids and statuses only, no
    personal data), so a reversal restores the previous state exactly."""

    __tablename__ = "person_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    persons: Mapped[str] = mapped_column(Text)  # space-separated person ids it touched
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(400), default="")
    reverted_by: Mapped[int | None] = mapped_column(BigId)
    reverts: Mapped[int | None] = mapped_column(BigId)


class PersonKey(Base):
    """Blocking keys of a record (HMAC-SM3, never plain): real-time candidates are the records
    sharing a key with the incoming one."""

    __tablename__ = "person_key"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(120), primary_key=True)

    __table_args__ = (Index("ix_person_key_record", "record_id"),)


class HealthCard(Base):
    """A resident's electronic health card: one active card per person."""

    __tablename__ = "health_card"

    card_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # random, no personal data
    person_id: Mapped[str] = mapped_column(String(120), index=True)
    status: Mapped[str] = mapped_column(String(12))  # active / revoked / replaced
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaces: Mapped[str | None] = mapped_column(String(16))


class CardUsage(Base):
    """One scan of a card's code at a facility (feeds card-use indicators)."""

    __tablename__ = "card_usage"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_id: Mapped[str | None] = mapped_column(String(16), index=True)
    person_id: Mapped[str | None] = mapped_column(String(120))
    facility: Mapped[str] = mapped_column(String(24), index=True)
    scene: Mapped[str] = mapped_column(String(24))  # registration / payment / pharmacy / record-query
    channel: Mapped[str] = mapped_column(String(24))  # counter / kiosk / doctor-workstation / app
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # ok / expired / forged / revoked / replayed
    #: SM3 digest of the token (replay detection: a code shown at one facility is not taken at another)
    token_digest: Mapped[str] = mapped_column(String(64), index=True)

"""Tables of the person index in the operational database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, LargeBinary, String
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

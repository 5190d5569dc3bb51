"""Tables of the person index in the operational database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from phip.store.db import Base


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

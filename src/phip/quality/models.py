"""The quality tables: rounds (one run of the rules), findings with their status through the
feedback loop, and scores per facility and round."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phip.store.db import Base

#: a finding's life: open (found) → acknowledged (the facility has seen it) → corrected (the
#: facility resubmitted the record) → verified (a later round no longer finds it)
STATUSES = ("open", "acknowledged", "corrected", "verified")


class QualityRound(Base):
    __tablename__ = "quality_round"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lake_version: Mapped[int] = mapped_column(Integer)
    #: the store change sequence the lake had reached: records changed after it are "corrected"
    change_seq: Mapped[int] = mapped_column(BigInteger)
    catalogue: Mapped[str] = mapped_column(String(32))  # hash of the rule catalogue
    engine: Mapped[str] = mapped_column(String(16))
    #: JSON: findings, new, still open, verified, per rule
    summary: Mapped[str] = mapped_column(Text, default="{}")


class QualityFinding(Base):
    """One record failing one rule. The key (rule, resource) is stable across rounds."""

    __tablename__ = "quality_finding"
    __table_args__ = (
        Index("ix_quality_finding_facility_status", "facility", "status"),
        Index("uq_quality_finding_rule_resource", "rule_id", "resource", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(40))
    resource: Mapped[str] = mapped_column(String(120))  # Type/id, or Submission/<facility>/<month>
    facility: Mapped[str | None] = mapped_column(String(24))
    month: Mapped[str | None] = mapped_column(String(7))
    value: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    first_round: Mapped[int] = mapped_column(ForeignKey("quality_round.id"))
    last_round: Mapped[int] = mapped_column(ForeignKey("quality_round.id"))
    status_round: Mapped[int] = mapped_column(ForeignKey("quality_round.id"))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(String(200), default="")


class QualityScore(Base):
    """A facility's score in a round: overall and per dimension, with the weighted failures and
    checked records they come from (so units above the facility can be scored from the sums)."""

    __tablename__ = "quality_score"

    round_id: Mapped[int] = mapped_column(ForeignKey("quality_round.id"), primary_key=True)
    facility: Mapped[str] = mapped_column(String(24), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    #: JSON: {dimension: {"score", "failed", "checked"}}
    dimensions: Mapped[str] = mapped_column(Text)
    records: Mapped[int] = mapped_column(BigInteger)
    findings: Mapped[int] = mapped_column(Integer)

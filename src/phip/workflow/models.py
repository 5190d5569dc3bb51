"""Tables of the workflow layer. The case itself is a FHIR `Task` in the resource store; these
hold what a Task cannot: every transition with its actor, reason and command key, the commands
already carried out (idempotency), and the deadline timers (which survive a restart)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phip.store.db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")


class WorkflowEvent(Base):
    """One transition of one case (opening a case is the transition `open` from nothing)."""

    __tablename__ = "workflow_event"
    __table_args__ = (Index("ix_workflow_event_case", "machine", "case_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    machine: Mapped[str] = mapped_column(String(40))
    case_key: Mapped[str] = mapped_column(String(120))
    transition: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(40), default="")
    to_state: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(500), default="")
    command_key: Mapped[str | None] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WorkflowCommand(Base):
    """A command carried out, by its idempotency key: the same key again returns this result
    instead of acting twice; the same key for another command is refused."""

    __tablename__ = "workflow_command"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    machine: Mapped[str] = mapped_column(String(40))
    case_key: Mapped[str] = mapped_column(String(120))
    transition: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    result: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WorkflowTimer(Base):
    """A deadline of a case in a state: due at `due_at`, fired once, cancelled when the case
    leaves the state first."""

    __tablename__ = "workflow_timer"
    __table_args__ = (Index("ix_workflow_timer_due", "done", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    machine: Mapped[str] = mapped_column(String(40))
    case_key: Mapped[str] = mapped_column(String(120), index=True)
    state: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    transition: Mapped[str | None] = mapped_column(String(40))
    escalate: Mapped[str | None] = mapped_column(String(80))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(20), default="")  # fired / cancelled / stale

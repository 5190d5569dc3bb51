"""workflow layer: transition events, idempotent commands, deadline timers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 03:00:00

A case is a FHIR Task in the resource store (`phip.workflow`); these tables hold its
transitions (actor, reason, command key), the commands already carried out, and its timers.
Bulk jobs become cases of the machine `bulk-job`: jobs already in the table keep their status
and get no Task (their lifecycle is over or is ended by the next start-up).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workflow_event",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("machine", sa.String(length=40), nullable=False),
        sa.Column("case_key", sa.String(length=120), nullable=False),
        sa.Column("transition", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=40), nullable=False),
        sa.Column("to_state", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("command_key", sa.String(length=120), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_event")),
    )
    op.create_index("ix_workflow_event_case", "workflow_event", ["machine", "case_key"], unique=False)
    op.create_table(
        "workflow_command",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("machine", sa.String(length=40), nullable=False),
        sa.Column("case_key", sa.String(length=120), nullable=False),
        sa.Column("transition", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_workflow_command")),
    )
    op.create_table(
        "workflow_timer",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("machine", sa.String(length=40), nullable=False),
        sa.Column("case_key", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transition", sa.String(length=40), nullable=True),
        sa.Column("escalate", sa.String(length=80), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_timer")),
    )
    op.create_index("ix_workflow_timer_due", "workflow_timer", ["done", "due_at"], unique=False)
    op.create_index(op.f("ix_workflow_timer_case_key"), "workflow_timer", ["case_key"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_workflow_timer_case_key"), table_name="workflow_timer")
    op.drop_index("ix_workflow_timer_due", table_name="workflow_timer")
    op.drop_table("workflow_timer")
    op.drop_table("workflow_command")
    op.drop_index("ix_workflow_event_case", table_name="workflow_event")
    op.drop_table("workflow_event")

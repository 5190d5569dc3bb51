"""transactional outbox: events, subscriber positions, parked events

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 02:00:00

Events are written in the same transaction as the change they announce (`phip.store.outbox`);
each subscriber keeps its position; an event a subscriber keeps failing on is parked.

The person index followed Patient writes with its own cursor (`person_index_state`); Patients
written after that cursor become outbox events, so none is left unlinked, and the table goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_event",
        sa.Column("seq", BigId, autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox_event")),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "postgresql":  # each event knows the transaction that wrote it
        op.execute(
            "ALTER TABLE outbox_event ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text)::bigint"
        )
    op.create_index("ix_outbox_event_txid_seq", "outbox_event", ["txid", "seq"], unique=False)
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_event_topic"), ["topic"], unique=False)
    op.create_table(
        "outbox_cursor",
        sa.Column("subscriber", sa.String(length=80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("txid_position", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscriber", name=op.f("pk_outbox_cursor")),
    )
    op.create_table(
        "outbox_parked",
        sa.Column("subscriber", sa.String(length=80), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscriber", "seq", name=op.f("pk_outbox_parked")),
    )
    op.execute(
        "INSERT INTO outbox_event (topic, key, payload, created_at) "
        "SELECT 'resource.Patient', 'Patient/' || res_id, '{}', CURRENT_TIMESTAMP FROM resource "
        "WHERE res_type = 'Patient' AND change_seq > COALESCE("
        "(SELECT value FROM person_index_state WHERE name = 'change_seq'), 0) ORDER BY change_seq"
    )
    op.drop_table("person_index_state")


def downgrade() -> None:
    op.create_table(
        "person_index_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", BigId, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_person_index_state")),
    )
    op.drop_table("outbox_parked")
    op.drop_table("outbox_cursor")
    op.drop_index("ix_outbox_event_txid_seq", table_name="outbox_event")
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_event_topic"))
    op.drop_table("outbox_event")

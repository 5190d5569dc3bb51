"""person index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:53:27.760645
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_key",
        sa.Column("key", sa.String(length=48), nullable=False),
        sa.Column("record_id", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("key", "record_id", name=op.f("pk_person_key")),
    )
    with op.batch_alter_table("person_key", schema=None) as batch_op:
        batch_op.create_index("ix_person_key_record", ["record_id"], unique=False)

    op.create_table(
        "person_record",
        sa.Column("record_id", sa.String(length=120), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("features", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_person_record")),
    )
    with op.batch_alter_table("person_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_record_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_record_person_id"))

    op.drop_table("person_record")
    with op.batch_alter_table("person_key", schema=None) as batch_op:
        batch_op.drop_index("ix_person_key_record")

    op.drop_table("person_key")

"""person index and health cards

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:59:27.141746
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
        "card_usage",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("card_id", sa.String(length=16), nullable=True),
        sa.Column("person_id", sa.String(length=120), nullable=True),
        sa.Column("facility", sa.String(length=24), nullable=False),
        sa.Column("scene", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_usage")),
    )
    with op.batch_alter_table("card_usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_usage_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_card_usage_card_id"), ["card_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_card_usage_facility"), ["facility"], unique=False)
        batch_op.create_index(batch_op.f("ix_card_usage_token_digest"), ["token_digest"], unique=False)

    op.create_table(
        "health_card",
        sa.Column("card_id", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaces", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_health_card")),
    )
    with op.batch_alter_table("health_card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_health_card_person_id"), ["person_id"], unique=False)

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
    with op.batch_alter_table("health_card", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_health_card_person_id"))

    op.drop_table("health_card")
    with op.batch_alter_table("card_usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_usage_token_digest"))
        batch_op.drop_index(batch_op.f("ix_card_usage_facility"))
        batch_op.drop_index(batch_op.f("ix_card_usage_card_id"))
        batch_op.drop_index(batch_op.f("ix_card_usage_at"))

    op.drop_table("card_usage")

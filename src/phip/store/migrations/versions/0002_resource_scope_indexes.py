"""resource indexes for patient and org-path scoped search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:11:06.550967
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index("ix_resource_type_org_path", ["res_type", "org_path", "res_id"], unique=False)
        batch_op.create_index("ix_resource_type_patient", ["res_type", "patient_id", "res_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_type_patient")
        batch_op.drop_index("ix_resource_type_org_path")

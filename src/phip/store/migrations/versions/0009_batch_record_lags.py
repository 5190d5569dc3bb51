"""per-record lags of each facility-month batch

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submission_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lag_histogram", sa.Text(), server_default="{}", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("submission_batch", schema=None) as batch_op:
        batch_op.drop_column("lag_histogram")

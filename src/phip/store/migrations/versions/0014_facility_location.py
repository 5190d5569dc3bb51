"""facility location: longitude and latitude (WGS 84) from the registry, when it gives them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 10:00:00

The console's maps draw facilities as points where the registry says where they are; facilities
loaded before keep no location until the registry is loaded again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("facility") as batch:
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("facility") as batch:
        batch.drop_column("latitude")
        batch.drop_column("longitude")

"""resident population by org unit, year, sex and age group

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "population",
        sa.Column("org_unit_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_code"], ["org_unit.code"], name=op.f("fk_population_org_unit_code_org_unit")
        ),
        sa.PrimaryKeyConstraint("org_unit_code", "year", "sex", "age_group", name=op.f("pk_population")),
    )


def downgrade() -> None:
    op.drop_table("population")

"""audit log: keyed MACs and a MAC on the chain head

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00

The entries keep their columns (`hash` now holds an HMAC-SM3 under the audit key, see
`phip.security.audit`); the head gains its own MAC. Entries written before this revision carry
unkeyed SHA-256 hashes: they are left as they are, and `phip audit verify` names them as such.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=64), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("mac")

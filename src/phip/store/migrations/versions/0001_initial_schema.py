"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 18:04:17.750278
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "org_unit",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column("path", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("in_gbt2260", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["org_unit.code"], name=op.f("fk_org_unit_parent_code_org_unit")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_org_unit")),
    )
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_unit_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_org_unit_parent_code"), ["parent_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_org_unit_path"), ["path"], unique=True)

    op.create_table(
        "resource",
        sa.Column("res_type", sa.String(length=40), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("facility", sa.String(length=24), nullable=True),
        sa.Column("org_path", sa.String(length=80), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("change_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("res_type", "res_id", name=op.f("pk_resource")),
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resource_change_seq"), ["change_seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_facility"), ["facility"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_last_updated"), ["last_updated"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_org_path"), ["org_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_resource_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "resource_history",
        sa.Column(
            "hid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("res_type", sa.String(length=40), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("facility", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("hid", name=op.f("pk_resource_history")),
        sa.UniqueConstraint("res_type", "res_id", "version", name=op.f("uq_resource_history_res_type")),
    )
    op.create_table(
        "search_date",
        sa.Column(
            "row", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("res_type", sa.String(length=40), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=40), nullable=False),
        sa.Column("low", sa.String(length=32), nullable=False),
        sa.Column("high", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("row", name=op.f("pk_search_date")),
    )
    with op.batch_alter_table("search_date", schema=None) as batch_op:
        batch_op.create_index("ix_search_date_lookup", ["res_type", "param", "low"], unique=False)
        batch_op.create_index("ix_search_date_res", ["res_type", "res_id"], unique=False)

    op.create_table(
        "search_reference",
        sa.Column(
            "row", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("res_type", sa.String(length=40), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("row", name=op.f("pk_search_reference")),
    )
    with op.batch_alter_table("search_reference", schema=None) as batch_op:
        batch_op.create_index(
            "ix_search_reference_lookup", ["param", "target_type", "target_id", "res_type"], unique=False
        )
        batch_op.create_index("ix_search_reference_res", ["res_type", "res_id"], unique=False)

    op.create_table(
        "search_string",
        sa.Column(
            "row", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("res_type", sa.String(length=40), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("row", name=op.f("pk_search_string")),
    )
    with op.batch_alter_table("search_string", schema=None) as batch_op:
        batch_op.create_index("ix_search_string_lookup", ["res_type", "param", "value"], unique=False)
        batch_op.create_index("ix_search_string_res", ["res_type", "res_id"], unique=False)

    op.create_table(
        "search_token",
        sa.Column(
            "row", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("res_type", sa.String(length=40), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=40), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("row", name=op.f("pk_search_token")),
    )
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.create_index("ix_search_token_lookup", ["res_type", "param", "code", "system"], unique=False)
        batch_op.create_index("ix_search_token_res", ["res_type", "res_id"], unique=False)

    op.create_table(
        "submission",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("facility", sa.String(length=24), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.String(length=32), nullable=True),
        sa.Column("period_end", sa.String(length=32), nullable=True),
        sa.Column("lag_days_median", sa.Double(), nullable=True),
        sa.Column("lag_days_max", sa.Double(), nullable=True),
        sa.Column("lag_histogram", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission")),
    )
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submission_facility"), ["facility"], unique=False)

    op.create_table(
        "facility",
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("type_code", sa.String(length=8), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("grade_code", sa.String(length=4), nullable=True),
        sa.Column("org_unit_code", sa.String(length=12), nullable=False),
        sa.Column("path", sa.String(length=80), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("prefecture_code", sa.String(length=6), nullable=False),
        sa.Column("beds", sa.Integer(), nullable=False),
        sa.Column("staff", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("connected_since", sa.Date(), nullable=True),
        sa.Column("referral_enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_code"], ["org_unit.code"], name=op.f("fk_facility_org_unit_code_org_unit")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_facility")),
    )
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facility_county_code"), ["county_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_facility_org_unit_code"), ["org_unit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_facility_path"), ["path"], unique=False)
        batch_op.create_index(batch_op.f("ix_facility_prefecture_code"), ["prefecture_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_facility_tier"), ["tier"], unique=False)
        batch_op.create_index(batch_op.f("ix_facility_type_code"), ["type_code"], unique=False)

    op.create_table(
        "ingest_checkpoint",
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submission.id"], name=op.f("fk_ingest_checkpoint_submission_id_submission")
        ),
        sa.PrimaryKeyConstraint("submission_id", "path", name=op.f("pk_ingest_checkpoint")),
    )
    op.create_table(
        "quarantine",
        sa.Column(
            "qid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("facility", sa.String(length=24), nullable=True),
        sa.Column("res_type", sa.String(length=40), nullable=True),
        sa.Column("res_id", sa.String(length=64), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submission.id"], name=op.f("fk_quarantine_submission_id_submission")
        ),
        sa.PrimaryKeyConstraint("qid", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantine_facility"), ["facility"], unique=False)
        batch_op.create_index(batch_op.f("ix_quarantine_raw_hash"), ["raw_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_quarantine_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "submission_batch",
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("facility", sa.String(length=24), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("first_sent", sa.String(length=32), nullable=True),
        sa.Column("last_sent", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submission.id"], name=op.f("fk_submission_batch_submission_id_submission")
        ),
        sa.PrimaryKeyConstraint("submission_id", "facility", "month", name=op.f("pk_submission_batch")),
    )


def downgrade() -> None:

    op.drop_table("submission_batch")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_submission_id"))
        batch_op.drop_index(batch_op.f("ix_quarantine_raw_hash"))
        batch_op.drop_index(batch_op.f("ix_quarantine_facility"))

    op.drop_table("quarantine")
    op.drop_table("ingest_checkpoint")
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facility_type_code"))
        batch_op.drop_index(batch_op.f("ix_facility_tier"))
        batch_op.drop_index(batch_op.f("ix_facility_prefecture_code"))
        batch_op.drop_index(batch_op.f("ix_facility_path"))
        batch_op.drop_index(batch_op.f("ix_facility_org_unit_code"))
        batch_op.drop_index(batch_op.f("ix_facility_county_code"))

    op.drop_table("facility")
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_facility"))

    op.drop_table("submission")
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.drop_index("ix_search_token_res")
        batch_op.drop_index("ix_search_token_lookup")

    op.drop_table("search_token")
    with op.batch_alter_table("search_string", schema=None) as batch_op:
        batch_op.drop_index("ix_search_string_res")
        batch_op.drop_index("ix_search_string_lookup")

    op.drop_table("search_string")
    with op.batch_alter_table("search_reference", schema=None) as batch_op:
        batch_op.drop_index("ix_search_reference_res")
        batch_op.drop_index("ix_search_reference_lookup")

    op.drop_table("search_reference")
    with op.batch_alter_table("search_date", schema=None) as batch_op:
        batch_op.drop_index("ix_search_date_res")
        batch_op.drop_index("ix_search_date_lookup")

    op.drop_table("search_date")
    op.drop_table("resource_history")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_patient_id"))
        batch_op.drop_index(batch_op.f("ix_resource_org_path"))
        batch_op.drop_index(batch_op.f("ix_resource_last_updated"))
        batch_op.drop_index(batch_op.f("ix_resource_facility"))
        batch_op.drop_index(batch_op.f("ix_resource_change_seq"))

    op.drop_table("resource")
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_unit_path"))
        batch_op.drop_index(batch_op.f("ix_org_unit_parent_code"))
        batch_op.drop_index(batch_op.f("ix_org_unit_level"))

    op.drop_table("org_unit")

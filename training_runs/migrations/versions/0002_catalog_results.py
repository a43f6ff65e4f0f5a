"""Catalog results: cached verdicts of catalog scoring, keyed by data fingerprint and versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("featurizer_version", sa.String(50), nullable=False),
        sa.Column("predictor_version", sa.String(50), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_results"),
        sa.UniqueConstraint(
            "name", "fingerprint", "featurizer_version", "predictor_version", name="uq_catalog_results_natural_key"
        ),
        sa.CheckConstraint("status IN ('ok', 'error')", name="ck_catalog_results_status_known"),
    )


def downgrade() -> None:
    op.drop_table("catalog_results")

"""Initial schema: base models, tasks, runs and task profiles.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
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
        "base_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hf_id", sa.String(300), nullable=True),
        sa.Column("creator", sa.String(200), nullable=True),
        sa.Column("family", sa.String(100), nullable=True),
        sa.Column("params_billion", sa.Float(), nullable=True),
        sa.Column("instruction_tuned", sa.Boolean(), nullable=True),
        sa.Column("release_date", sa.Date(), nullable=True),
        sa.Column("context_length", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_base_models"),
        sa.UniqueConstraint("name", name="uq_base_models_name"),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("metric", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("dataset_link", sa.String(500), nullable=True),
        sa.Column("n_train", sa.Integer(), nullable=True),
        sa.Column("n_validation", sa.Integer(), nullable=True),
        sa.Column("n_test", sa.Integer(), nullable=True),
        sa.Column("eval_split", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.UniqueConstraint("name", name="uq_tasks_name"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("base_model_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("provenance", sa.String(200), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=True),
        sa.Column("wall_time_s", sa.Float(), nullable=True),
        sa.Column("tokens_per_s", sa.Float(), nullable=True),
        sa.Column("peak_memory_gb", sa.Float(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name="fk_runs_task_id_tasks", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["base_model_id"], ["base_models.id"], name="fk_runs_base_model_id_base_models"),
        sa.UniqueConstraint("task_id", "model", "kind", "provenance", name="uq_runs_natural_key"),
        sa.CheckConstraint("score >= 0 AND score <= 1", name="ck_runs_score_in_unit_interval"),
        sa.CheckConstraint("kind IN ('qlora', 'zero-shot', 'api')", name="ck_runs_kind_known"),
        sa.CheckConstraint(
            "(kind = 'api' AND base_model_id IS NULL) OR (kind <> 'api' AND base_model_id IS NOT NULL)",
            name="ck_runs_base_model_unless_api",
        ),
    )
    op.create_index("ix_runs_task_id", "runs", ["task_id"])
    op.create_index("ix_runs_base_model_id", "runs", ["base_model_id"])
    op.create_table(
        "task_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("featurizer_version", sa.String(50), nullable=False),
        sa.Column("heuristics", sa.JSON(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_profiles"),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_task_profiles_task_id_tasks", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("task_id", "featurizer_version", name="uq_task_profiles_natural_key"),
    )
    op.create_index("ix_task_profiles_task_id", "task_profiles", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_task_profiles_task_id", table_name="task_profiles")
    op.drop_table("task_profiles")
    op.drop_index("ix_runs_base_model_id", table_name="runs")
    op.drop_index("ix_runs_task_id", table_name="runs")
    op.drop_table("runs")
    op.drop_table("tasks")
    op.drop_table("base_models")

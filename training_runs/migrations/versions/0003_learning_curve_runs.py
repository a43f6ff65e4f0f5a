"""Learning-curve runs: a fine-tune on a subset of the data, one run per rung of a validation's curve.

Only the ``kind`` CHECK constraint of ``runs`` changes. SQLite cannot alter a constraint in place, so
batch mode rebuilds the table there (copying its rows); PostgreSQL drops and re-adds the constraint.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KIND_CONSTRAINT = "ck_runs_kind_known"
KINDS_BEFORE = ("qlora", "zero-shot", "api")
KINDS_AFTER = (*KINDS_BEFORE, "learning-curve")


def _kind_check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _replace_kind_check(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(KIND_CONSTRAINT, type_="check")
        batch.create_check_constraint(KIND_CONSTRAINT, _kind_check(kinds))


def upgrade() -> None:
    _replace_kind_check(KINDS_AFTER)


def downgrade() -> None:
    # The older schema cannot hold learning-curve runs: they go with the kind (a downgrade is an
    # explicit administrator's action; export the runs first to keep them).
    op.execute(sa.text("DELETE FROM runs WHERE kind = 'learning-curve'"))
    _replace_kind_check(KINDS_BEFORE)

"""ORM models of the results database (SQLAlchemy 2 typed ORM).

The schema itself is created and changed only by the Alembic migrations in
``training_runs/migrations``; these classes must stay in step with them (a test compares the two).

Example:
    >>> from training_runs.store.orm import RunRecord
    >>> RunRecord.__tablename__
    'runs'
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Kinds of run in the LoRA Land study, the only ones the predictor learns from: a QLoRA fine-tuned
#: model, the same base model zero-shot, or a hosted API model.
STUDY_RUN_KINDS: tuple[str, ...] = ("qlora", "zero-shot", "api")
#: Every kind of run; ``learning-curve`` is a fine-tune on a subset of a task's data (one rung of the
#: learning curve ``advisor validate`` probes; its ``metrics`` hold the rung's size and held-out loss).
RUN_KINDS: tuple[str, ...] = (*STUDY_RUN_KINDS, "learning-curve")
#: Status of one catalog scoring attempt.
CATALOG_STATUSES: tuple[str, ...] = ("ok", "error")

# Deterministic constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BaseModelRecord(Base):
    """A base model (open weights) that runs fine-tune or evaluate zero-shot."""

    __tablename__ = "base_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    hf_id: Mapped[str | None] = mapped_column(String(300))
    creator: Mapped[str | None] = mapped_column(String(200))
    family: Mapped[str | None] = mapped_column(String(100))
    params_billion: Mapped[float | None] = mapped_column(Float)
    instruction_tuned: Mapped[bool | None]
    release_date: Mapped[dt.date | None] = mapped_column(Date)
    context_length: Mapped[int | None] = mapped_column(Integer)


class TaskRecord(Base):
    """A task: one of the study's 31, or a local dataset (category ``local``) fine-tuned by the runner."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    category: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    dataset_link: Mapped[str | None] = mapped_column(String(500))
    n_train: Mapped[int | None] = mapped_column(Integer)
    n_validation: Mapped[int | None] = mapped_column(Integer)
    n_test: Mapped[int | None] = mapped_column(Integer)
    eval_split: Mapped[str | None] = mapped_column(String(100))


class RunRecord(Base):
    """One score of one model on one task.

    ``model`` is the model's name for every kind; for ``qlora``, ``zero-shot`` and ``learning-curve``
    runs it is also a base model (``base_model_id`` set), for ``api`` runs (GPT-4...) it is a hosted
    model (``base_model_id`` NULL).
    """

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("task_id", "model", "kind", "provenance", name="uq_runs_natural_key"),
        CheckConstraint("score >= 0 AND score <= 1", name="score_in_unit_interval"),
        CheckConstraint("kind IN (" + ", ".join(f"'{kind}'" for kind in RUN_KINDS) + ")", name="kind_known"),
        CheckConstraint(
            "(kind = 'api' AND base_model_id IS NULL) OR (kind <> 'api' AND base_model_id IS NOT NULL)",
            name="base_model_unless_api",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    base_model_id: Mapped[int | None] = mapped_column(ForeignKey("base_models.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    metric: Mapped[str] = mapped_column(String(100))
    provenance: Mapped[str] = mapped_column(String(200))
    hyperparameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    peak_memory_gb: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    task: Mapped[TaskRecord] = relationship()
    base_model: Mapped[BaseModelRecord | None] = relationship()


class TaskProfileRecord(Base):
    """The heuristics of one task as computed by one featurizer version.

    ``details`` keeps the remaining :class:`featurizers.profile_types.TaskProfile` fields so the
    profile round-trips exactly.
    """

    __tablename__ = "task_profiles"
    __table_args__ = (UniqueConstraint("task_id", "featurizer_version", name="uq_task_profiles_natural_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    featurizer_version: Mapped[str] = mapped_column(String(50))
    heuristics: Mapped[dict[str, Any]] = mapped_column(JSON)
    intervals: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_examples: Mapped[int] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    task: Mapped[TaskRecord] = relationship()


class CatalogResultRecord(Base):
    """The advisor's verdict on one catalog entry, cached by data fingerprint and component versions."""

    __tablename__ = "catalog_results"
    __table_args__ = (
        UniqueConstraint(
            "name", "fingerprint", "featurizer_version", "predictor_version", name="uq_catalog_results_natural_key"
        ),
        CheckConstraint("status IN ('ok', 'error')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    fingerprint: Mapped[str] = mapped_column(String(200))
    featurizer_version: Mapped[str] = mapped_column(String(50))
    predictor_version: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

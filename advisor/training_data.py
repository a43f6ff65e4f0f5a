"""The predictor's training table: fine-tuning results joined with task heuristics and model descriptors.

The table is built from plain data frames (so the predictor knows nothing of files or databases);
:func:`training_table_from_store` is the one place that reads the results database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np
import pandas as pd

from advisor.features import heuristics_frame
from featurizers.profile_types import TaskProfile

if TYPE_CHECKING:  # pragma: no cover
    from training_runs.store import Store

#: Reference tasks whose shared data sample is not a fair picture of the data the study fine-tuned on
#: (see ../shared/reference_tasks/README.md). Their profiles would teach the predictor wrong heuristics,
#: so they are left out of training by default; they stay in the database and in similarity look-ups.
UNFAIR_REFERENCE_SAMPLES: Mapping[str, str] = {
    "customer_support": "13 rows: too small to trust",
    "glue_mnli": "48 rows with class balance forced",
    "glue_qnli": "64 rows with class balance forced",
    "glue_qqp": "64 rows with class balance forced",
    "mmlu": "dev/val questions, while the study trained on auxiliary_train (long reading passages)",
    "wikisql": "inputs hold the table schema only; the study's held whole tables",
}


class TrainingDataError(ValueError):
    """The results database cannot train a predictor (empty, or no task has both runs and a profile)."""


@dataclass(frozen=True)
class TrainingTable:
    """Everything the predictor learns from, indexed by task name and base-model name.

    - ``finetuned``: tasks x models matrix of QLoRA fine-tuned scores (NaN where not run).
    - ``base``: tasks x models zero-shot base scores (NaN where unknown).
    - ``gpt4``: GPT-4 score per task (NaN where unknown, e.g. local tasks).
    - ``heuristics``: tasks x heuristic-name matrix from the task profiles (plus the text column
      ``task_type``).
    - ``descriptors``: one row per base model (family, params_billion, instruction_tuned, release_date).
    - ``excluded``: tasks left out of training, with the reason.
    """

    finetuned: pd.DataFrame
    base: pd.DataFrame
    gpt4: pd.Series
    heuristics: pd.DataFrame
    descriptors: pd.DataFrame
    excluded: dict[str, str] = field(default_factory=dict)

    @classmethod
    def _trusted(cls, **parts: object) -> "TrainingTable":
        """Build from parts that already have object indexes (skips the normalization; used by ``subset``)."""
        table = object.__new__(cls)
        for name, value in parts.items():
            object.__setattr__(table, name, value)
        return table

    def __post_init__(self) -> None:
        # Plain object indexes: pandas' Arrow-backed string indexes make the many small look-ups of
        # cross-validation several times slower.
        for name in ("finetuned", "base", "heuristics", "descriptors"):
            object.__setattr__(self, name, _object_index(getattr(self, name)))
        object.__setattr__(self, "gpt4", self.gpt4.set_axis(self.gpt4.index.astype(object)))

    @property
    def tasks(self) -> list[str]:
        return list(self.finetuned.index)

    @property
    def models(self) -> list[str]:
        return list(self.finetuned.columns)

    def subset(self, tasks: Iterable[str]) -> "TrainingTable":
        """The same table restricted to ``tasks`` (in that order)."""
        tasks = list(tasks)
        return TrainingTable._trusted(
            finetuned=self.finetuned.loc[tasks],
            base=self.base.loc[tasks],
            gpt4=self.gpt4.reindex(tasks),
            heuristics=self.heuristics.loc[tasks],
            descriptors=self.descriptors,
            excluded=self.excluded,
        )


def build_training_table(
    runs: pd.DataFrame,
    profiles: Mapping[str, TaskProfile],
    descriptors: pd.DataFrame,
    *,
    exclude: Mapping[str, str] | None = None,
) -> TrainingTable:
    """Join runs (columns task, model, kind, score) with task profiles and model descriptors.

    Only tasks that have both QLoRA runs and a profile are kept; ``exclude`` (default
    :data:`UNFAIR_REFERENCE_SAMPLES`) names tasks to leave out, with the reason. Repeated runs of the
    same (task, model, kind) are averaged.

    Example:
        >>> table = build_training_table(runs, profiles, descriptors)   # doctest: +SKIP
        >>> table.finetuned.shape                                        # doctest: +SKIP
        (24, 10)
    """
    exclude = dict(UNFAIR_REFERENCE_SAMPLES if exclude is None else exclude)
    missing = {"task", "model", "kind", "score"} - set(runs.columns)
    if missing:
        raise TrainingDataError(f"runs table lacks columns {sorted(missing)}")
    if runs.empty:
        raise TrainingDataError("the results database holds no runs: run `advisor db init` first")

    def matrix(kind: str) -> pd.DataFrame:
        rows = runs[runs["kind"] == kind]
        return rows.pivot_table(index="task", columns="model", values="score", aggfunc="mean")

    finetuned = matrix("qlora")
    if finetuned.empty:
        raise TrainingDataError("the results database holds no QLoRA runs to learn from")
    api = runs[(runs["kind"] == "api") & (runs["model"] == "gpt-4")].groupby("task")["score"].mean()

    profiled = {name for name in profiles if name in finetuned.index}
    excluded = {t: r for t, r in exclude.items() if t in profiled}
    for task in finetuned.index:
        if task not in profiles:
            excluded.setdefault(task, "no task profile (no data sample)")
    tasks = sorted(t for t in profiled - set(excluded) if finetuned.loc[t].notna().any())
    if len(tasks) < 3:
        raise TrainingDataError(
            f"only {len(tasks)} task(s) have both QLoRA runs and a heuristic profile; at least 3 are needed"
        )

    # Local runs may use base models outside the registry (a local checkpoint, the tiny test model):
    # without descriptors they cannot be placed among the others, so they are left out, and said so.
    described = descriptors.dropna()
    models = [m for m in finetuned.columns if m in described.index]
    if not models:
        raise TrainingDataError("no base model in the runs has registry descriptors")
    for model in finetuned.columns:
        if model not in models:
            excluded.setdefault(f"model:{model}", "base model without registry descriptors")

    heuristics = heuristics_frame({task: profiles[task] for task in tasks})
    return TrainingTable(
        finetuned=finetuned.loc[tasks, models],
        base=matrix("zero-shot").reindex(index=tasks, columns=models),
        gpt4=api.reindex(tasks).astype(float),
        heuristics=heuristics.loc[tasks],
        descriptors=descriptors.loc[models],
        excluded=excluded,
    )


def descriptors_frame(base_models: pd.DataFrame) -> pd.DataFrame:
    """Normalize a base-model table (registry CSV or database) to the descriptors the predictor uses."""
    frame = base_models.copy()
    if "name" in frame.columns and "model" not in frame.columns:
        frame = frame.rename(columns={"name": "model"})
    needed = {"model", "family", "params_billion", "instruction_tuned", "release_date"}
    missing = needed - set(frame.columns)
    if missing:
        raise TrainingDataError(f"base-model table lacks columns {sorted(missing)}")
    frame = frame.set_index("model")
    out = pd.DataFrame(index=frame.index)
    out["family"] = frame["family"].astype(str)
    out["params_billion"] = frame["params_billion"].astype(float)
    out["instruction_tuned"] = frame["instruction_tuned"].map(_as_bool).astype(float)
    released = pd.to_datetime(frame["release_date"])
    out["release_year"] = released.dt.year + (released.dt.day_of_year - 1) / 365.25
    return out


def training_table_from_store(store: "Store", *, exclude: Mapping[str, str] | None = None) -> TrainingTable:
    """Read runs, task profiles and base models from the results database into a :class:`TrainingTable`."""
    from featurizers.profile_types import FEATURIZER_VERSION

    runs = store.runs_frame(kinds=["qlora", "zero-shot", "api"])
    profiles = store.task_profiles(FEATURIZER_VERSION)
    if not profiles:
        raise TrainingDataError(
            f"the results database holds no task profiles for featurizer version {FEATURIZER_VERSION}; "
            "run `advisor db init` (it loads the shipped reference profiles)"
        )
    return build_training_table(runs, profiles, descriptors_frame(store.base_models_frame()), exclude=exclude)


def _object_index(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis(frame.index.astype(object), axis=0).set_axis(frame.columns.astype(object), axis=1)


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value) and not (isinstance(value, float) and np.isnan(value))

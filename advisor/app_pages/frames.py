"""Pure data shaping for the app's pages: API results in, small DataFrames and sentences out.

Nothing here imports Streamlit, so every function is unit-tested directly.

Example:
    >>> pos = heuristic_positions(profile, advisor.reference_profiles())   # doctest: +SKIP
    >>> position_sentences(pos)[0]                                          # doctest: +SKIP
    'example_tokens_p95 = 63: higher than 9 of 30 reference tasks'
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import pandas as pd

from featurizers.profile_types import TaskProfile

#: Heuristics charted against the reference tasks, with a label and whether a log scale reads better.
POSITION_HEURISTICS: tuple[tuple[str, str, bool], ...] = (
    ("n_examples", "training examples", True),
    ("input_tokens_mean", "input tokens (mean)", True),
    ("output_tokens_mean", "output tokens (mean)", True),
    ("example_tokens_p95", "example tokens (p95)", True),
    ("io_rougeL_mean", "input-output ROUGE-L (mean)", False),
    ("compressibility_mean", "compressibility (mean)", False),
)

#: The provenance of the study's own runs in the results database.
STUDY_PROVENANCE = "lora-land-2024"


def _finite(v: float | None) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(float(v))


def reference_heuristics(reference: Mapping[str, TaskProfile] | pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{task: {heuristic: value}}`` from ``Advisor.reference_profiles()`` (a tasks x heuristics frame) or
    from a mapping of task names to TaskProfile."""
    if isinstance(reference, pd.DataFrame):
        return {str(task): {str(k): v for k, v in row.items()} for task, row in reference.iterrows()}
    return {task: dict(p.heuristics) for task, p in reference.items()}


def heuristic_positions(
    profile: TaskProfile,
    reference_profiles: Mapping[str, TaskProfile] | pd.DataFrame,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (heuristic, task): the reference tasks' values plus this dataset's (``is_this``).

    Columns: heuristic, label, log_scale, task, value, is_this, rank_below (for this dataset's rows:
    how many reference tasks have a smaller value), n_reference. Heuristics missing from the
    profile, or known for no reference task, are left out.
    """
    spec = [(n, lbl, log) for n, lbl, log in POSITION_HEURISTICS if names is None or n in names]
    if names is not None:
        known = {n for n, _, _ in spec}
        spec += [(n, n, False) for n in names if n not in known]
    reference = reference_heuristics(reference_profiles)
    rows = []
    for name, label, log in spec:
        mine = profile.heuristics.get(name)
        refs = {t: h.get(name) for t, h in reference.items()}
        refs = {t: float(v) for t, v in refs.items() if _finite(v)}
        if not _finite(mine) or not refs:
            continue
        use_log = log and min(list(refs.values()) + [float(mine)]) > 0
        below = sum(v < float(mine) for v in refs.values())
        for task, v in sorted(refs.items()):
            rows.append((name, label, use_log, task, v, False, None, len(refs)))
        rows.append((name, label, use_log, "this dataset", float(mine), True, below, len(refs)))
    return pd.DataFrame(rows, columns=["heuristic", "label", "log_scale", "task", "value", "is_this",
                                       "rank_below", "n_reference"])


def _fmt(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def position_sentences(positions: pd.DataFrame) -> list[str]:
    """'<label> = <value>: higher than K of N reference tasks' for each heuristic of ``positions``."""
    out = []
    for _, row in positions[positions["is_this"]].iterrows():
        out.append(f"{row['label']} = {_fmt(row['value'])}: higher than {int(row['rank_below'])} of "
                   f"{int(row['n_reference'])} reference tasks")
    return out


def ranking_frame(rec: object) -> pd.DataFrame:
    """The recommendation's per-model table with readable column names, best first."""
    frame = rec.to_frame()  # type: ignore[attr-defined]
    if frame["measured_base_score"].isna().all():
        frame = frame.drop(columns=["measured_base_score"])
    if not frame["low_confidence"].any():
        frame = frame.drop(columns=["low_confidence"])
    return frame.rename(columns={
        "base_model": "base model", "predicted_score": "fine-tuned score", "interval_low": "interval low",
        "interval_high": "interval high", "predicted_base_score": "zero-shot score",
        "predicted_lift": "lift", "p_beat_gpt4": "P(beat GPT-4)", "p_best": "P(best)",
        "low_confidence": "prior (no or few runs)", "runs": "tasks with runs",
        "measured_base_score": "measured zero-shot",
    })


def contributions_frame(rec: object) -> pd.DataFrame:
    """Top feature contributions of the explanation, largest effect first."""
    expl = rec.explain()  # type: ignore[attr-defined]
    frame = pd.DataFrame([{"heuristic": c.feature, "value": c.value, "effect": c.contribution}
                          for c in expl.contributions], columns=["heuristic", "value", "effect"])
    return frame.reindex(frame["effect"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def similar_tasks_frame(rec: object) -> pd.DataFrame:
    """The most similar reference tasks and what fine-tuning did there."""
    expl = rec.explain()  # type: ignore[attr-defined]
    return pd.DataFrame([{
        "task": s.task, "same kind": s.same_kind, "same metric": s.same_metric, "distance": s.distance,
        "best fine-tuned model": s.best_model, "its score": s.best_finetuned_score, "mean lift": s.mean_lift,
        "GPT-4": s.gpt4_score,
    } for s in expl.similar_tasks], columns=["task", "same kind", "same metric", "distance", "best fine-tuned model",
                                             "its score", "mean lift", "GPT-4"])


def parse_base_scores(text: str) -> dict[str, float]:
    """Parse 'model=score' pairs separated by commas or new lines (the app's optional input).

    Example:
        >>> parse_base_scores("mistral-7b=0.41, phi-2 = 0.3")
        {'mistral-7b': 0.41, 'phi-2': 0.3}
    """
    out: dict[str, float] = {}
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"cannot read {part!r}: write model=score, e.g. mistral-7b=0.41")
        model, value = (s.strip() for s in part.split("=", 1))
        try:
            score = float(value)
        except ValueError:
            raise ValueError(f"the base score of {model!r} is not a number: {value!r}") from None
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"the base score of {model!r} must be between 0 and 1, got {score}")
        out[model] = score
    return out


def study_matrix(
    runs: pd.DataFrame,
    *,
    value: str = "score",
    categories: Iterable[str] | None = None,
    models: Iterable[str] | None = None,
    provenance: str | None = STUDY_PROVENANCE,
) -> pd.DataFrame:
    """Task x base-model cells of fine-tuned (``kind == 'qlora'``) results, as a long frame.

    ``value`` is ``"score"`` (the fine-tuned score) or ``"lift"`` (fine-tuned minus the zero-shot run
    of the same task, model and provenance). Columns: task, category, model, value, provenance.
    ``provenance=None`` keeps every provenance (local runs too).
    """
    if value not in ("score", "lift"):
        raise ValueError(f"value must be 'score' or 'lift', got {value!r}")
    frame = runs
    if provenance is not None:
        frame = frame[frame["provenance"] == provenance]
    keys = ["task", "model", "provenance"]
    tuned = frame[frame["kind"] == "qlora"][keys + ["category", "score"]]
    if value == "lift":
        base = frame[frame["kind"] == "zero-shot"][keys + ["score"]].rename(columns={"score": "base"})
        tuned = tuned.merge(base, on=keys, how="inner")
        tuned = tuned.assign(value=tuned["score"] - tuned["base"])
    else:
        tuned = tuned.assign(value=tuned["score"])
    if categories:
        tuned = tuned[tuned["category"].isin(list(categories))]
    if models:
        tuned = tuned[tuned["model"].isin(list(models))]
    return tuned[["task", "category", "model", "value", "provenance"]].reset_index(drop=True)


def local_runs_frame(runs: pd.DataFrame, provenance: str = STUDY_PROVENANCE) -> pd.DataFrame:
    """Fine-tuned runs recorded locally, each next to the study's score for the same task and model."""
    tuned = runs[runs["kind"] == "qlora"]
    local = tuned[tuned["provenance"] != provenance]
    study = tuned[tuned["provenance"] == provenance][["task", "model", "score"]].rename(
        columns={"score": "study score"})
    merged = local.merge(study, on=["task", "model"], how="left")
    merged = merged.rename(columns={"score": "local score"})
    merged["difference"] = merged["local score"] - merged["study score"]
    cols = ["task", "model", "provenance", "local score", "study score", "difference"]
    return merged[cols].reset_index(drop=True)


def preview_frame(examples: Sequence[object]) -> pd.DataFrame:
    """Formatted (prompt, completion) examples as a two-column table."""
    return pd.DataFrame([{"prompt": e.prompt, "completion": e.completion} for e in examples],  # type: ignore[attr-defined]
                        columns=["prompt", "completion"])

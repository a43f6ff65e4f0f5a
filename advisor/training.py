"""Training the shipped predictor: compare candidates by cross-validation, fit the chosen one, write a card."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from advisor.artifact import PredictorBundle
from advisor.evaluation import (
    Candidate,
    CandidateMetrics,
    default_candidates,
    evaluate_candidate,
    leave_one_model_out,
)
from advisor.features import SIMPLE_LEARNER_FEATURES, FeatureSpec
from advisor.training_data import TrainingTable


@dataclass(frozen=True)
class EvaluationReport:
    """Cross-validated metrics of every candidate and the names of the chosen ones."""

    metrics: dict[str, CandidateMetrics]
    chosen: str
    chosen_with_base: str
    n_tasks: int
    tasks: list[str]
    excluded: dict[str, str]

    def to_dict(self) -> dict:
        return {
            "candidates": {name: m.to_dict() for name, m in self.metrics.items()},
            "shipped": self.chosen,
            "shipped_with_base_scores": self.chosen_with_base,
            "n_tasks": self.n_tasks,
            "tasks": self.tasks,
            "excluded_tasks": self.excluded,
        }


def choose(metrics: dict[str, CandidateMetrics], with_base: bool) -> str:
    """The candidate to ship: lowest MAE among those whose mean regret is no worse than the plain
    per-model-mean baseline's (falling back to lowest MAE), so a better score forecast never buys a worse
    pick. The bar is the plain baseline's in both pools: "measured base score + mean lift" is a weak
    baseline for picking, and beating it would not be enough."""
    pool = {n: m for n, m in metrics.items() if m.uses_base_scores == with_base}
    bar = metrics["per-model-mean"].mean_regret if "per-model-mean" in metrics else min(m.mean_regret for m in pool.values())
    safe = {n: m for n, m in pool.items() if m.mean_regret <= bar + 1e-12}
    return min(safe or pool, key=lambda n: (safe or pool)[n].mae)


def evaluate_candidates(
    table: TrainingTable, candidates: Sequence[Candidate] | None = None, *, seed: int = 0
) -> EvaluationReport:
    """Leave-one-task-out metrics of each candidate on the same tasks."""
    candidates = list(candidates or candidates_for(table))
    metrics = {c.name: evaluate_candidate(c, table, seed=seed) for c in candidates}
    return EvaluationReport(
        metrics=metrics,
        chosen=choose(metrics, with_base=False),
        chosen_with_base=choose(metrics, with_base=True),
        n_tasks=len(table.tasks),
        tasks=table.tasks,
        excluded=dict(table.excluded),
    )


#: Heuristics beyond the study's that the wider candidates may read, when every profile has them.
EXTRA_FEATURES: tuple[str, ...] = (
    "output_distinct_ratio",
    "label_entropy",
    "output_in_input_share",
    "numeric_output_share",
    "input_lexical_diversity",
    "output_lexical_diversity",
    "near_duplicate_rate",
    "input_readability",
    "output_readability",
)


def extra_features_available(table: TrainingTable, names: Sequence[str] = EXTRA_FEATURES) -> tuple[str, ...]:
    """Those of ``names`` that every training task's profile defines."""
    cols = table.heuristics.columns
    return tuple(f for f in names if f in cols and table.heuristics[f].notna().all())


def candidates_for(table: TrainingTable) -> list[Candidate]:
    """The default candidates over the heuristics that ``table``'s profiles define."""
    return default_candidates(extra_features_available(table), extra_features_available(table, SIMPLE_LEARNER_FEATURES))


def feature_signal(table: TrainingTable, features: tuple[str, ...]) -> pd.DataFrame:
    """Which heuristics carry signal: Spearman correlation with the task's mean fine-tuned score and mean
    lift, and the sign stability of each standardized ridge coefficient across leave-one-task-out folds."""
    from advisor.estimators import ridge_regressor

    X = FeatureSpec(features).matrix(table.heuristics)
    task_mean = table.finetuned.mean(axis=1)
    lift = (table.finetuned - table.base).mean(axis=1)
    coefs = []
    for task in table.tasks:
        keep = X.index != task
        model = ridge_regressor().fit(X[keep].to_numpy(), task_mean[keep].to_numpy())
        coefs.append(model.coef_)
    coefs = np.array(coefs)
    signs = np.sign(coefs)
    rows = []
    for i, name in enumerate(features):
        rows.append({
            "feature": name,
            "spearman_finetuned": float(spearmanr(X[name], task_mean).statistic),
            "spearman_lift": float(spearmanr(X[name], lift).statistic),
            "ridge_coef_mean": float(coefs[:, i].mean()),
            "ridge_coef_std": float(coefs[:, i].std()),
            "sign_stability": float(max((signs[:, i] > 0).mean(), (signs[:, i] < 0).mean())),
        })
    return pd.DataFrame(rows).set_index("feature").sort_values("spearman_finetuned", key=np.abs, ascending=False)


def reference_results(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task: best fine-tuned model and score, mean lift over base, GPT-4's score."""
    qlora = runs[runs["kind"] == "qlora"].pivot_table(index="task", columns="model", values="score")
    base = runs[runs["kind"] == "zero-shot"].pivot_table(index="task", columns="model", values="score")
    gpt4 = runs[(runs["kind"] == "api") & (runs["model"] == "gpt-4")].groupby("task")["score"].mean()
    return pd.DataFrame({
        "best_model": qlora.idxmax(axis=1),
        "best_finetuned_score": qlora.max(axis=1),
        "mean_finetuned_score": qlora.mean(axis=1),
        "mean_lift": (qlora - base.reindex_like(qlora)).mean(axis=1),
        "gpt4_score": gpt4.reindex(qlora.index),
    })


def table_fingerprint(table: TrainingTable) -> str:
    digest = hashlib.sha256()
    for frame in (table.finetuned, table.base, table.heuristics):
        digest.update(pd.util.hash_pandas_object(frame.round(6), index=True).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(table.gpt4.round(6)).to_numpy().tobytes())
    return digest.hexdigest()[:12]


def train_bundle(
    table: TrainingTable,
    runs: pd.DataFrame,
    reference_heuristics: pd.DataFrame,
    *,
    featurizer_version: str,
    candidates: Sequence[Candidate] | None = None,
    seed: int = 0,
    report: EvaluationReport | None = None,
) -> tuple[PredictorBundle, str]:
    """Choose candidates by cross-validation, fit them on all tasks, and build the artifact and its card.

    Deterministic: the same table and seed give the same predictor and the same card (bar the date).
    """
    candidates = list(candidates or candidates_for(table))
    report = report or evaluate_candidates(table, candidates, seed=seed)
    by_name = {c.name: c for c in candidates}
    chosen, chosen_base = by_name[report.chosen], by_name[report.chosen_with_base]
    default = chosen.predictor(seed=seed).fit(table)
    with_base = chosen_base.predictor(seed=seed).fit(table)
    lomo = leave_one_model_out(chosen, table, seed=seed)
    signal = feature_signal(table, chosen.features)
    version = f"{chosen.name}-{table_fingerprint(table)}"
    card = {
        "predictor_version": version,
        "featurizer_version": featurizer_version,
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "seed": seed,
        "training_tasks": table.tasks,
        "excluded_tasks": table.excluded,
        "base_models": table.models,
        "features": list(chosen.features),
        "features_with_base_scores": list(chosen_base.features),
        "interval_level": default.interval_level,
        "evaluation": report.to_dict(),
        "leave_one_model_out_mae": lomo,
        "feature_signal": json.loads(signal.round(4).to_json(orient="index")),
    }
    bundle = PredictorBundle(
        default=default,
        with_base_scores=with_base,
        featurizer_version=featurizer_version,
        predictor_version=version,
        reference_heuristics=reference_heuristics,
        reference_results=reference_results(runs),
        descriptors=table.descriptors,
        card=card,
    )
    return bundle, model_card_markdown(card)


def model_card_markdown(card: dict) -> str:
    """A readable model card from the JSON card."""
    ev = card["evaluation"]
    rows = []
    for name, m in ev["candidates"].items():
        mark = " (shipped)" if name in (ev["shipped"], ev["shipped_with_base_scores"]) else ""
        rows.append(
            f"| {name}{mark} | {m['mae']:.3f} | {m['rmse']:.3f} | {m['spearman']:.3f} | {m['top1_hit_rate']:.0%} | "
            f"{m['mean_regret']:.4f} | {m['worst_regret']:.3f} | {_fmt(m['auc_beat_gpt4'])} | {_fmt(m['brier_beat_gpt4'])} | "
            f"{_fmt(m['interval_coverage'])} | {_fmt(m['interval_width'])} | {_fmt(m.get('base_mae'))} | {_fmt(m.get('lift_mae'))} |"
        )
    signal = "\n".join(
        f"| {f} | {v['spearman_finetuned']:+.2f} | {v['spearman_lift']:+.2f} | {v['sign_stability']:.0%} |"
        for f, v in card["feature_signal"].items()
    )
    lomo = ", ".join(f"{m} {v:.3f}" for m, v in card["leave_one_model_out_mae"].items())
    excluded = "\n".join(f"- {t}: {why}" for t, why in card["excluded_tasks"].items())
    return f"""# Model card: fine-tuning outcome predictor `{card['predictor_version']}`

Forecasts, per base model, the score QLoRA fine-tuning reaches on a task (the task's own metric, in [0, 1]),
the zero-shot base score and lift, and the chance to beat GPT-4, from the task's dataset heuristics.

- Trained on: the LoRA Land study's runs (plus any local runs in the database) on {ev['n_tasks']} tasks that have a
  fair heuristic profile; {len(card['base_models'])} base models. Featurizer version {card['featurizer_version']}; seed {card['seed']}.
- Shipped: `{ev['shipped']}` (no base scores given) and `{ev['shipped_with_base_scores']}` (measured zero-shot base
  scores given). Chosen by leave-one-task-out cross-validation: lowest MAE among candidates whose mean regret is no
  worse than the per-model-mean baseline's.
- Intervals: nominal {card['interval_level']:.0%}, from out-of-fold residuals inside the training tasks; coverage below
  is measured on held-out tasks.
- Features: {', '.join(card['features'])}.

## Leave-one-task-out metrics ({ev['n_tasks']} tasks)

| candidate | MAE | RMSE | Spearman | top-1 | mean regret | worst regret | AUC beat GPT-4 | Brier | coverage | width | base-score MAE | lift MAE |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Base-score MAE is the error of the forecast zero-shot score (0 where the candidate is given measured base scores);
lift MAE the error of the forecast lift (fine-tuned minus base).

## Which heuristics carry signal

Spearman correlation with the task's mean fine-tuned score and mean lift; sign stability of the ridge
coefficient across leave-one-task-out folds.

| feature | vs fine-tuned | vs lift | sign stability |
|---|---|---|---|
{signal}

## Base models without runs

Forecast from descriptors (size, instruction tuning, release date) and flagged low confidence. Leave-one-model-out
MAE per model: {lomo}.

## Tasks left out of training

{excluded or '- none'}

## Limits

31 tasks (fewer with fair samples) is a small training set: forecasts for tasks unlike any reference task are
uncertain, and the intervals say so. Scores are on each task's own metric, so "0.8" means different things for
accuracy and ROUGE.
"""


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"

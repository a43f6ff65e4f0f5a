"""Training the shipped predictor: choose the recipe honestly, fit it, measure it, write the card.

``train_bundle`` chooses each component by leave-one-task-out inside the training tasks
(:mod:`advisor.selection`), fits the chosen forecasters (without and with measured zero-shot scores) on every
task, and measures them: *plain* leave-one-task-out of the chosen recipe and of the per-model-mean baseline,
and *nested* leave-one-task-out of the selection rule itself (the choice remade inside every fold), which is
the figure to quote.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from advisor.artifact import PredictorBundle
from advisor.evaluation import ForecastMetrics, leave_one_task_out, score_forecasts
from advisor.features import heuristics_frame
from advisor.forecaster import JointForecaster, Recipe
from advisor.selection import choose_recipe, feature_groups, nested_leave_one_task_out
from advisor.spread import SpreadRecipe
from advisor.task_level import LevelRecipe
from advisor.training_data import TrainingTable

#: How ``advisor train`` measures what it ships: "nested" (the selection rule, the figure to quote, minutes),
#: "plain" (the chosen recipe and the baseline, leave-one-task-out), or "none".
EVALUATIONS = ("nested", "plain", "none")


def baseline_recipe() -> Recipe:
    """The per-model-mean baseline: every task at the training tasks' average level, each model at its usual
    offset, GPT-4 at its average margin."""
    return Recipe(LevelRecipe("mean"), SpreadRecipe((), 0.0), LevelRecipe("mean"))


@dataclass(frozen=True)
class EvaluationReport:
    """Held-out metrics of the baseline, the chosen recipes (plain) and the selection rule (nested)."""

    metrics: dict[str, ForecastMetrics]
    n_tasks: int
    tasks: list[str]
    excluded: dict[str, str]

    def to_dict(self) -> dict:
        return {"metrics": {k: m.to_dict() for k, m in self.metrics.items()}, "n_tasks": self.n_tasks,
                "tasks": self.tasks, "excluded_tasks": self.excluded}


def evaluate(table: TrainingTable, default: Recipe, with_base: Recipe, *, nested: bool, seed: int = 0,
             n_draws: int = 2000, tasks: list[str] | None = None) -> EvaluationReport:
    """Leave-one-task-out of the baseline and of the chosen recipes; with ``nested``, of the selection rule too.

    ``tasks`` restricts the held-out tasks (each still forecast from all the others; default: every task).
    """
    held = list(tasks or table.tasks)
    unknown = [t for t in held if t not in table.tasks]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; the evaluation tasks are: {', '.join(table.tasks)}")

    def fixed(recipe: Recipe):
        return lambda train: JointForecaster(recipe, seed=seed, n_draws=n_draws).fit(train)

    def score(factory, base_scores: bool = False) -> ForecastMetrics:
        return score_forecasts(leave_one_task_out(factory, table, base_scores=base_scores, tasks=held), table)

    metrics = {
        "baseline (per-model mean)": score(fixed(baseline_recipe())),
        "chosen recipe (plain)": score(fixed(default)),
        "chosen recipe + base scores (plain)": score(fixed(with_base), base_scores=True),
    }
    if nested:
        metrics["selection rule (nested)"] = score_forecasts(
            nested_leave_one_task_out(table, seed=seed, n_draws=n_draws, tasks=held), table)
        metrics["selection rule + base scores (nested)"] = score_forecasts(
            nested_leave_one_task_out(table, uses_base_scores=True, seed=seed, n_draws=n_draws, tasks=held), table)
    return EvaluationReport(metrics, len(held), held, dict(table.excluded))


def feature_signal(table: TrainingTable, features: tuple[str, ...]) -> pd.DataFrame:
    """Spearman correlation of each numeric feature with the task's mean fine-tuned score and mean lift."""
    from advisor.features import FeatureSpec, categorical_prefix

    numeric = tuple(f for f in features if categorical_prefix(f) is None)
    X = FeatureSpec(numeric).matrix(table.heuristics)
    task_mean = table.finetuned.mean(axis=1)
    lift = (table.finetuned - table.base).mean(axis=1)
    rows = [{"feature": name, "spearman_finetuned": float(spearmanr(X[name], task_mean).statistic),
             "spearman_lift": float(spearmanr(X[name], lift).statistic)} for name in numeric]
    frame = pd.DataFrame(rows, columns=["feature", "spearman_finetuned", "spearman_lift"]).set_index("feature")
    return frame.sort_values("spearman_finetuned", key=np.abs, ascending=False)


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
    for frame in (table.finetuned, table.base, table.heuristics.select_dtypes("number")):
        digest.update(pd.util.hash_pandas_object(frame.round(6), index=True).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(table.gpt4.round(6)).to_numpy().tobytes())
    return digest.hexdigest()[:12]


def train_bundle(
    table: TrainingTable,
    runs: pd.DataFrame,
    reference_profiles: dict,
    *,
    featurizer_version: str,
    seed: int = 0,
    evaluation: str = "nested",
    n_draws: int = 4000,
) -> tuple[PredictorBundle, str]:
    """Choose the recipes, fit them on all tasks, measure them (``evaluation``), and build the artifact and card.

    ``reference_profiles`` maps reference task names to their TaskProfile (for similar tasks and charts).
    Deterministic: the same table and seed give the same predictor and the same card (bar the date).
    """
    if evaluation not in EVALUATIONS:
        raise ValueError(f"evaluation must be one of {', '.join(EVALUATIONS)}, got {evaluation!r}")
    selection = choose_recipe(table, seed=seed)
    selection_base = choose_recipe(table, uses_base_scores=True, seed=seed)
    default = JointForecaster(selection.recipe, seed=seed, n_draws=n_draws).fit(table)
    with_base = JointForecaster(selection_base.recipe, seed=seed, n_draws=n_draws).fit(table)
    report = None if evaluation == "none" else evaluate(
        table, selection.recipe, selection_base.recipe, nested=evaluation == "nested", seed=seed)
    version = f"joint-{table_fingerprint(table)}"
    groups = feature_groups(table)
    card = {
        "predictor_version": version,
        "featurizer_version": featurizer_version,
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "seed": seed,
        "training_tasks": table.tasks,
        "excluded_tasks": table.excluded,
        "base_models": table.models,
        "reference_models": default.reference_,
        "recipe": selection.recipe.name,
        "recipe_with_base_scores": selection_base.recipe.name,
        "features": list(selection.recipe.features),
        "selection": selection.to_dict(),
        "selection_with_base_scores": selection_base.to_dict(),
        "interval_level": default.interval_level,
        "evaluation": None if report is None else report.to_dict(),
        "evaluation_kind": evaluation,
        "prior_uses_descriptors": default.core_.spread_.uses_descriptors,
        "feature_signal": json.loads(feature_signal(table, groups.study + groups.learner).round(4).to_json(orient="index")),
    }
    bundle = PredictorBundle(
        default=default,
        with_base_scores=with_base,
        featurizer_version=featurizer_version,
        predictor_version=version,
        reference_heuristics=heuristics_frame(reference_profiles) if reference_profiles else pd.DataFrame(),
        reference_results=reference_results(runs),
        descriptors=table.descriptors,
        card=card,
    )
    return bundle, model_card_markdown(card)


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def model_card_markdown(card: dict) -> str:
    """A readable model card from the JSON card."""
    ev = card["evaluation"]
    if ev:
        rows = "\n".join(
            f"| {name} | {_fmt(m['mae'])} | {_fmt(m['spearman'])} | {m['top1_hit_rate']:.0%} | {_fmt(m['mean_regret'], 4)} | "
            f"{_fmt(m['worst_regret'])} | {_fmt(m['auc_beat_gpt4'])} | {_fmt(m['brier_beat_gpt4'])} | "
            f"{_fmt(m['interval_coverage'])} | {_fmt(m['width_ratio'], 1)} | {_fmt(m['winkler'])} | "
            f"{_fmt(m['winkler_constant'])} | {_fmt(m['expected_regret'], 4)} | {_fmt(m['lift_mae'])} |"
            for name, m in ev["metrics"].items()
        )
        table = f"""## Held-out metrics ({ev['n_tasks']} tasks, leave-one-task-out; {card['evaluation_kind']})

| forecaster | MAE | Spearman | top-1 | mean regret | worst regret | AUC beat GPT-4 | Brier | coverage | width ratio | Winkler | Winkler (constant width) | expected regret | lift MAE |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

*Nested* rows remake the whole choice of recipe inside every fold: they are the figures to quote. *Plain* rows
evaluate the recipe chosen on all tasks, which saw every task while choosing. Coverage and width ratio are of the
nominal {card['interval_level']:.0%} intervals (width ratio: widest task's mean interval width over the narrowest's);
Winkler is the interval score (lower is better) against constant-width intervals calibrated on the same errors.
Expected regret is the forecast one, beside the realized mean regret."""
    else:
        table = "## Held-out metrics\n\nNot measured for this artifact (`advisor train --evaluation none`)."
    signal = "\n".join(f"| {f} | {v['spearman_finetuned']:+.2f} | {v['spearman_lift']:+.2f} |"
                       for f, v in card["feature_signal"].items())
    excluded = "\n".join(f"- {t}: {why}" for t, why in card["excluded_tasks"].items())
    return f"""# Model card: fine-tuning outcome forecaster `{card['predictor_version']}`

Forecasts, per base model, the score QLoRA fine-tuning reaches on a task (the task's own metric, in [0, 1]),
the zero-shot score and lift, and GPT-4's score, as one joint distribution per task; P(beat GPT-4), P(best), the
expected regret and the verdict are read from it.

- Trained on: the LoRA Land study's runs (plus any local runs in the database) on {len(card['training_tasks'])}
  tasks that have a fair heuristic profile; reference base models: {', '.join(card['reference_models'])}.
  Featurizer version {card['featurizer_version']}; seed {card['seed']}.
- Recipe (chosen by leave-one-task-out inside the training tasks): `{card['recipe']}`.
- With measured zero-shot scores: `{card['recipe_with_base_scores']}`.
- Models without runs: forecast from the reference models as a prior ({'descriptors inform it' if card['prior_uses_descriptors'] else 'descriptors did not help in leave-one-model-out, so the prior is the reference models’ average'}),
  with the prior's leave-one-model-out variance; models with a few runs get the posterior given them.

{table}

## Which heuristics carry signal

Spearman correlation with the task's mean fine-tuned score and mean lift (training tasks).

| feature | vs fine-tuned | vs lift |
|---|---|---|
{signal}

## Tasks left out of training

{excluded or '- none'}

## Limits

A few dozen tasks is a small training set: forecasts for tasks unlike any reference task are uncertain, and the
intervals (wider for such tasks) say so. Scores are on each task's own metric, so "0.8" means different things for
accuracy and ROUGE.
"""

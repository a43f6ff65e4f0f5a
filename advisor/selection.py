"""Choosing a forecaster's recipe honestly: by leave-one-task-out inside the training tasks only.

Each component is chosen for the question it answers, from a small grid of candidates built from the
heuristics the training profiles define:

* the **level** by the error of the task-level forecast (MAE of each held-out task's mean score);
* the **spread** by how well it ranks the models (one minus the rank correlation between forecast and actual
  scores across base models, per held-out task): the spread decides which model comes first, the level only
  where. The rank correlation is smooth where the regret of the pick is lumpy (mostly zeros and a few large
  misses), so choices made on it are stable;
* the **margin** over GPT-4 by how well it says whether fine-tuning beats GPT-4 (the Brier score of
  P(mean fine-tuned score > GPT-4's), a Gaussian around the forecast margin with the candidate's own
  out-of-fold error): it drives P(beat GPT-4), where the sign matters more than the size;
* the **zero-shot level** (for the lift) by its error (MAE of each held-out task's mean zero-shot score).

With two dozen tasks the candidates' scores are noisy, and the best of a dozen noisy scores is often luck. So
each component takes the *simplest* candidate that is not worse than the best one by more than one standard
error of their paired, task-by-task difference (the "one-standard-error rule"); candidates are listed from
simple to complex.

:func:`choose_recipe` sees only the table it is given. Used inside the folds of an outer
leave-one-task-out (:func:`nested_leave_one_task_out`), the outer figures measure the whole procedure,
choices included: those are the figures to quote.

Example:
    >>> report = choose_recipe(table)                       # doctest: +SKIP
    >>> report.recipe.name, report.level_scores              # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.special import ndtr
from scipy.stats import spearmanr

from advisor.evaluation import HeldOutForecasts, leave_one_task_out
from advisor.features import (
    CATEGORICAL_COLUMNS,
    INVARIANT_STUDY_FEATURES,
    METRIC_FAMILY_PREFIX,
    STUDY_FEATURES,
    TASK_TYPE_PREFIX,
    FeatureSpec,
)
from advisor.forecaster import BASE_MEAN_FEATURE, JointForecaster, Recipe, reference_models
from advisor.spread import SpreadModel, SpreadRecipe
from advisor.task_level import LevelModel, LevelRecipe, task_levels
from advisor.training_data import TrainingTable

#: Heuristics beyond the study's that the boosted-tree candidates may read, when every profile has them.
EXTRA_FEATURES: tuple[str, ...] = (
    "output_distinct_ratio", "label_entropy", "output_in_input_share", "numeric_output_share",
    "input_lexical_diversity", "output_lexical_diversity", "near_duplicate_rate", "input_readability",
    "output_readability",
)
#: The simple-learner score places a task on its metric's scale (see featurizers.simple_learners).
LEARNER_FEATURES: tuple[str, ...] = ("simple_learner_score",)
#: A categorical value (task type, metric family) becomes a feature when at least this many training tasks have it.
MIN_TASKS_PER_CATEGORY = 2
#: Ridge penalties of the spread candidates.
SPREAD_PENALTIES: tuple[float, ...] = (1.0, 3.0, 10.0)


@dataclass(frozen=True)
class FeatureGroups:
    """The feature names a table's profiles support, by group."""

    study: tuple[str, ...]
    learner: tuple[str, ...]
    extra: tuple[str, ...]
    kinds: tuple[str, ...]
    families: tuple[str, ...]


def feature_groups(table: TrainingTable, study: Sequence[str] | None = None) -> FeatureGroups:
    """The candidates' feature groups: numeric heuristics every training profile defines, and indicators of the
    task types and metric families at least :data:`MIN_TASKS_PER_CATEGORY` training tasks have.

    ``study`` defaults to the study's heuristics as invariant counterparts (content only: they do not move when
    an instruction is reworded or rows repeated) where the profiles define them, else as the study defined them.
    """
    h = table.heuristics
    if study is None:
        study = INVARIANT_STUDY_FEATURES if all(n in h.columns for n in INVARIANT_STUDY_FEATURES) else STUDY_FEATURES

    def defined(names: Sequence[str]) -> tuple[str, ...]:
        return tuple(n for n in names if n in h.columns and h[n].notna().all())

    def indicators(prefix: str) -> tuple[str, ...]:
        column = CATEGORICAL_COLUMNS[prefix]
        if column not in h.columns:
            return ()
        counts = h[column].dropna().value_counts()
        return tuple(f"{prefix}{value}" for value in sorted(counts[counts >= MIN_TASKS_PER_CATEGORY].index))

    return FeatureGroups(defined(study), defined(LEARNER_FEATURES), defined(EXTRA_FEATURES),
                         indicators(TASK_TYPE_PREFIX), indicators(METRIC_FAMILY_PREFIX))


def level_candidates(g: FeatureGroups) -> list[LevelRecipe]:
    """Task-level recipes, simplest first: the average, ridges on few to many features, nearest tasks, boosted
    trees."""
    small = g.learner + g.families
    out = [LevelRecipe("mean")]
    for regressor, features in (
        # The simple-learner score alone, linearly and as nearest tasks (its relation to the level is not linear).
        ("ridge", g.learner), ("knn", g.learner),
        ("ridge", small), ("ridge", small + g.kinds), ("ridge", g.study + small + g.kinds),
        ("knn", small), ("lightgbm", g.study + g.learner + g.extra + g.kinds + g.families),
    ):
        if features:
            out.append(LevelRecipe(regressor, tuple(dict.fromkeys(features))))
    return list(dict.fromkeys(out))


def spread_candidates(g: FeatureGroups) -> list[SpreadRecipe]:
    """Spread recipes, simplest first: each model's usual offset only, or offsets by metric family (and task
    type), the more strongly shrunk first."""
    out = [SpreadRecipe((), SPREAD_PENALTIES[0])]
    for features in (g.families, g.families + g.kinds):
        if features:
            out += [SpreadRecipe(features, penalty) for penalty in sorted(SPREAD_PENALTIES, reverse=True)]
    return list(dict.fromkeys(out))


def margin_candidates(g: FeatureGroups) -> list[LevelRecipe]:
    """GPT-4 margin recipes (the same regressors as the level)."""
    return [r for r in level_candidates(g) if r.regressor in ("mean", "ridge", "lightgbm")]


@dataclass(frozen=True)
class SelectionReport:
    """The chosen recipe and every candidate's mean inner leave-one-task-out score (lower is better)."""

    recipe: Recipe
    level_scores: dict[str, float] = field(default_factory=dict)
    spread_scores: dict[str, float] = field(default_factory=dict)
    margin_scores: dict[str, float] = field(default_factory=dict)
    zero_shot_scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"recipe": self.recipe.name, "zero_shot_recipe": self.recipe.zero_shot.name,
                "level_mae": self.level_scores, "spread_one_minus_spearman": self.spread_scores,
                "margin_beat_brier": self.margin_scores, "zero_shot_mae": self.zero_shot_scores}


def _matrix(table: TrainingTable, features: tuple[str, ...]) -> pd.DataFrame:
    return FeatureSpec(features).matrix(table.heuristics)


def _loo_level(recipe: LevelRecipe, X: pd.DataFrame, y: pd.Series, seed: int) -> np.ndarray:
    """Absolute error of each held-out task's forecast (leave-one-task-out)."""
    known = y.notna().to_numpy()
    A, values = X.to_numpy(dtype=float)[known], y.to_numpy(dtype=float)[known]
    errors = np.empty(len(values))
    for i in range(len(values)):
        keep = np.arange(len(values)) != i
        model = LevelModel(recipe, seed).fit(A[keep], values[keep])
        errors[i] = abs(model.predict(A[i : i + 1])[0] - values[i])
    return errors


def _loo_spread(recipe: SpreadRecipe, table: TrainingTable, reference: list[str]) -> np.ndarray:
    """One minus the rank correlation across models of each held-out task's deviations (leave-one-task-out)."""
    scores = table.finetuned[reference].to_numpy(dtype=float)
    levels = task_levels(table.finetuned[reference]).to_numpy()
    deviations = scores - levels[:, None]
    features = _matrix(table, recipe.features).to_numpy(dtype=float) if recipe.features else np.zeros((len(levels), 0))
    losses = np.zeros(len(levels))
    for i in range(len(levels)):
        keep = np.arange(len(levels)) != i
        model = SpreadModel(recipe).fit_arrays(deviations[keep], features[keep], reference, reference=reference)
        pred, _, _ = model.predict_arrays(features[i : i + 1], reference)
        seen = ~np.isnan(scores[i])
        if np.ptp(scores[i, seen]) > 0 and np.ptp(pred[0, seen]) > 0:
            losses[i] = 1.0 - spearmanr(pred[0, seen], scores[i, seen]).statistic
    return losses


def _loo_beat(recipe: LevelRecipe, X: pd.DataFrame, margin: pd.Series, seed: int) -> np.ndarray:
    """Brier score, per held-out task, of P(margin > 0) from a Gaussian around its forecast margin whose spread
    is the RMS error of the forecasts of the other held-out tasks."""
    known = margin.notna().to_numpy()
    A, values = X.to_numpy(dtype=float)[known], margin.to_numpy(dtype=float)[known]
    pred = np.empty(len(values))
    for i in range(len(values)):
        keep = np.arange(len(values)) != i
        pred[i] = LevelModel(recipe, seed).fit(A[keep], values[keep]).predict(A[i : i + 1])[0]
    errors = values - pred
    briers = np.empty(len(values))
    for i in range(len(values)):
        sd = max(float(np.sqrt(np.mean(np.delete(errors, i) ** 2))), 1e-6)
        briers[i] = (ndtr(pred[i] / sd) - float(values[i] > 0)) ** 2
    return briers


def one_standard_error_choice(scores: list[tuple[object, np.ndarray]]) -> object:
    """The first candidate (they are listed simplest first) whose per-task scores are not worse than the best
    candidate's by more than one standard error of the paired difference (lower is better).

    Pairing the two candidates' scores task by task compares them on the same tasks, so a candidate that is
    worse on a whole kind of task is told apart from one that is merely noisier.

    Example:
        >>> one_standard_error_choice([("simple", np.array([0.11, 0.09, 0.10])), ("complex", np.array([0.10, 0.09, 0.10]))])
        'simple'
    """
    means = [float(np.mean(v)) for _, v in scores]
    best = scores[int(np.argmin(means))][1]
    for (candidate, values), mean in zip(scores, means):
        diff = values - best
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        if float(np.mean(diff)) <= se + 1e-12:
            return candidate
    raise AssertionError("the best candidate is always within one standard error of itself")


def choose_recipe(table: TrainingTable, *, uses_base_scores: bool = False, seed: int = 0,
                  groups: FeatureGroups | None = None) -> SelectionReport:
    """Choose the level, spread and margin recipes by leave-one-task-out over ``table``'s tasks only (the
    one-standard-error rule, see the module docstring)."""
    g = groups or feature_groups(table)
    reference = reference_models(table.finetuned)
    levels = task_levels(table.finetuned[reference])
    level_runs = []
    for recipe in level_candidates(g):
        X = _matrix(table, recipe.features) if recipe.features else pd.DataFrame(index=table.tasks)
        level_runs.append((recipe, _loo_level(recipe, X, levels, seed)))
        if uses_base_scores and recipe.regressor != "mean":
            # The same recipe reading the measured zero-shot mean too (every reference model's measured score
            # stands in for what a user measures): chosen only where it really helps.
            reading = replace(recipe, reads_base_scores=True)
            X = X.assign(**{BASE_MEAN_FEATURE: table.base[reference].mean(axis=1).to_numpy()})
            level_runs.append((reading, _loo_level(reading, X, levels, seed)))
    spread_runs = [(recipe, _loo_spread(recipe, table, reference)) for recipe in spread_candidates(g)]
    margin = levels - table.gpt4.reindex(levels.index)
    zero_shot = task_levels(table.base[reference])
    margin_runs, zero_shot_runs = [], []
    for recipe in margin_candidates(g):
        X = _matrix(table, recipe.features) if recipe.features else pd.DataFrame(index=table.tasks)
        margin_runs.append((recipe, _loo_beat(recipe, X, margin, seed)))
    for recipe in level_candidates(g):
        X = _matrix(table, recipe.features) if recipe.features else pd.DataFrame(index=table.tasks)
        zero_shot_runs.append((recipe, _loo_level(recipe, X, zero_shot, seed)))
    recipe = Recipe(one_standard_error_choice(level_runs), one_standard_error_choice(spread_runs),
                    one_standard_error_choice(margin_runs), uses_base_scores,
                    zero_shot=one_standard_error_choice(zero_shot_runs))
    return SelectionReport(
        recipe,
        {r.name: float(np.mean(v)) for r, v in level_runs},
        {r.name: float(np.mean(v)) for r, v in spread_runs},
        {r.name: float(np.mean(v)) for r, v in margin_runs},
        {r.name: float(np.mean(v)) for r, v in zero_shot_runs},
    )


def selected_forecaster(table: TrainingTable, *, uses_base_scores: bool = False, seed: int = 0,
                        n_draws: int = 4000) -> JointForecaster:
    """The forecaster the selection rule builds from ``table`` (choice and fit on the same tasks)."""
    recipe = choose_recipe(table, uses_base_scores=uses_base_scores, seed=seed).recipe
    return JointForecaster(recipe, seed=seed, n_draws=n_draws).fit(table)


def nested_leave_one_task_out(table: TrainingTable, *, uses_base_scores: bool = False, seed: int = 0,
                              n_draws: int = 2000, tasks: Sequence[str] | None = None) -> HeldOutForecasts:
    """Each task (default: all) forecast by the selection rule applied to the other tasks (the choice made
    inside the fold)."""
    return leave_one_task_out(
        lambda train: selected_forecaster(train, uses_base_scores=uses_base_scores, seed=seed, n_draws=n_draws),
        table, base_scores=uses_base_scores, tasks=tasks,
    )

"""Choosing a forecaster's recipe honestly: by leave-one-task-out inside the training tasks only.

Each component is chosen for the question it answers, from a small grid of candidates built from the
heuristics the training profiles define:

* the **level** by the error of the task-level forecast (MAE of each held-out task's mean score);
* the **spread** by how well it picks (mean regret of the held-out tasks' picks; ties broken by the rank
  correlation across models): the spread decides which model comes first, the level only where;
* the **margin** over GPT-4 by its error (MAE), which drives P(beat GPT-4).

:func:`choose_recipe` sees only the table it is given. Used inside the folds of an outer
leave-one-task-out (:func:`nested_leave_one_task_out`), the outer figures measure the whole procedure,
choices included: those are the figures to quote.

Example:
    >>> report = choose_recipe(table)                       # doctest: +SKIP
    >>> report.recipe.name, report.level_scores              # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
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
    """Task-level recipes: the average, ridges on few to many features, nearest tasks, boosted trees."""
    small = g.learner + g.families
    out = [LevelRecipe("mean")]
    for regressor, features in (
        ("ridge", small), ("ridge", small + g.kinds), ("ridge", g.study + small + g.kinds),
        ("knn", small), ("lightgbm", g.study + g.learner + g.extra + g.kinds + g.families),
    ):
        if features:
            out.append(LevelRecipe(regressor, tuple(dict.fromkeys(features))))
    return list(dict.fromkeys(out))


def spread_candidates(g: FeatureGroups) -> list[SpreadRecipe]:
    """Spread recipes: each model's usual offset only, or offsets by metric family (and task type)."""
    out = [SpreadRecipe((), SPREAD_PENALTIES[0])]
    for features in (g.families, g.families + g.kinds):
        if features:
            out += [SpreadRecipe(features, penalty) for penalty in SPREAD_PENALTIES]
    return list(dict.fromkeys(out))


def margin_candidates(g: FeatureGroups) -> list[LevelRecipe]:
    """GPT-4 margin recipes (the same regressors as the level)."""
    return [r for r in level_candidates(g) if r.regressor in ("mean", "ridge", "lightgbm")]


@dataclass(frozen=True)
class SelectionReport:
    """The chosen recipe and every candidate's inner leave-one-task-out score (lower is better)."""

    recipe: Recipe
    level_scores: dict[str, float] = field(default_factory=dict)
    spread_scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    margin_scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "recipe": self.recipe.name,
            "level_mae": self.level_scores,
            "spread_regret_and_spearman": {k: {"mean_regret": v[0], "spearman": -v[1]} for k, v in self.spread_scores.items()},
            "margin_mae": self.margin_scores,
        }


def _matrix(table: TrainingTable, features: tuple[str, ...]) -> pd.DataFrame:
    return FeatureSpec(features).matrix(table.heuristics)


def _loo_level(recipe: LevelRecipe, X: pd.DataFrame, y: pd.Series, seed: int) -> float:
    known = y.notna()
    X, y = X[known], y[known]
    errors = []
    for i, task in enumerate(y.index):
        keep = y.index != task
        model = LevelModel(recipe, seed).fit(X[keep], y[keep])
        errors.append(abs(model.predict(X.iloc[[i]])[0] - y.iloc[i]))
    return float(np.mean(errors))


def _loo_spread(recipe: SpreadRecipe, table: TrainingTable, reference: list[str]) -> tuple[float, float]:
    """(mean regret, -mean Spearman) of the picks by the deviations alone, each task held out in turn."""
    levels = task_levels(table.finetuned[reference])
    deviations = table.finetuned[reference].sub(levels, axis=0)
    features = _matrix(table, recipe.features) if recipe.features else pd.DataFrame(index=table.tasks)
    regrets, spearmans = [], []
    for task in table.tasks:
        keep = [t for t in table.tasks if t != task]
        model = SpreadModel(recipe).fit(deviations.loc[keep], features.loc[keep], reference=reference)
        pred = model.predict(features.loc[[task]], reference).mean.iloc[0]
        actual = table.finetuned.loc[task, reference]
        regrets.append(float(actual.max() - actual[pred.idxmax()]))
        if actual.nunique() > 1 and pred.nunique() > 1:
            spearmans.append(spearmanr(pred, actual).statistic)
    return float(np.mean(regrets)), -float(np.mean(spearmans)) if spearmans else 0.0


def choose_recipe(table: TrainingTable, *, uses_base_scores: bool = False, seed: int = 0,
                  groups: FeatureGroups | None = None) -> SelectionReport:
    """Choose the level, spread and margin recipes by leave-one-task-out over ``table``'s tasks only."""
    g = groups or feature_groups(table)
    reference = reference_models(table.finetuned)
    levels = task_levels(table.finetuned[reference])
    level_scores: dict[str, float] = {}
    best_level = None
    for recipe in level_candidates(g):
        X = _matrix(table, recipe.features) if recipe.features else pd.DataFrame(index=table.tasks)
        if uses_base_scores:
            # Measured zero-shot scores of every reference model stand in for what a user measures.
            X = X.assign(**{BASE_MEAN_FEATURE: table.base[reference].mean(axis=1).to_numpy()})
        score = _loo_level(recipe, X, levels, seed)
        level_scores[recipe.name] = score
        if best_level is None or score < best_level[0] - 1e-12:
            best_level = (score, recipe)
    spread_scores: dict[str, tuple[float, float]] = {}
    best_spread = None
    for recipe in spread_candidates(g):
        score = _loo_spread(recipe, table, reference)
        spread_scores[recipe.name] = score
        if best_spread is None or (score[0] < best_spread[0][0] - 1e-9
                                   or (abs(score[0] - best_spread[0][0]) <= 1e-9 and score[1] < best_spread[0][1])):
            best_spread = (score, recipe)
    margin_scores: dict[str, float] = {}
    best_margin = None
    margin = levels - table.gpt4.reindex(levels.index)
    for recipe in margin_candidates(g):
        X = _matrix(table, recipe.features) if recipe.features else pd.DataFrame(index=table.tasks)
        score = _loo_level(recipe, X, margin, seed)
        margin_scores[recipe.name] = score
        if best_margin is None or score < best_margin[0] - 1e-12:
            best_margin = (score, recipe)
    recipe = Recipe(best_level[1], best_spread[1], best_margin[1], uses_base_scores)
    return SelectionReport(recipe, level_scores, spread_scores, margin_scores)


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

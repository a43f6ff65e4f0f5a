"""Onboarding a base model the study never ran: which reference tasks to run first, and what k runs buy.

A new model's forecast on any task is the task level plus its deviation ``theta . phi(task)``
(:mod:`advisor.spread`); with no runs ``theta`` is the prior learned from the study's models, and each run on a
reference task (whose level the study's models pin down) updates it. **The task-choice rule** picks the tasks
whose runs shrink that uncertainty most: greedily, the task that most lowers the average posterior variance of
the model's deviation over all reference tasks (an A-optimal design on the spread model's features, which
reads only the tasks' features, never their outcomes). Kinds of task the model has not been seen on come
first, which is what a careful engineer would do by hand.

**The onboarding curve** measures it on the study (:func:`onboarding_curve`): each of the study's models in
turn is treated as new; its runs on k tasks (chosen by the rule, or at random for comparison) are revealed,
and its score on every other task is forecast by a forecaster that saw neither that task nor the model's run
on it. MAE, Spearman across tasks and the regret of picking among all models (the others forecast with the
task held out) are averaged over the models, beside the same figures when the model has all its runs.

Example:
    >>> curve = onboarding_curve(table)     # doctest: +SKIP
    >>> print(curve.format())                # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from advisor.features import FeatureSpec
from advisor.selection import choose_recipe
from advisor.spread import SpreadModel
from advisor.task_level import LevelModel, task_levels
from advisor.training_data import TrainingTable

if TYPE_CHECKING:  # pragma: no cover
    from advisor.forecaster import JointForecaster

#: How many revealed runs the curve measures.
CURVE_KS: tuple[int, ...] = (0, 1, 2, 3, 5, 8)
#: Random task choices averaged per (model, task, k), for the comparison with the rule.
RANDOM_REPEATS = 5


def choose_onboarding_tasks(model: SpreadModel, candidates: pd.DataFrame, k: int,
                            targets: pd.DataFrame | None = None, cost: pd.Series | None = None) -> list[str]:
    """The ``k`` tasks (rows of ``candidates``: the spread model's features) whose runs most lower the new
    model's average posterior deviation variance over ``targets`` (default: the candidates themselves).

    Ties go to the cheaper task (``cost``, e.g. its number of examples), then to the name.

    Example:
        >>> choose_onboarding_tasks(spread_model, features, 3)      # doctest: +SKIP
        ['boolq', 'viggo', 'arc_combined']
    """
    phi = model._design(candidates)
    targets_phi = phi if targets is None else model._design(targets)
    names = list(candidates.index)
    cost = cost.reindex(names).fillna(np.inf) if cost is not None else pd.Series(0.0, index=names)
    chosen = _greedy_design(targets_phi, phi, names, np.diag(1.0 / model.prior_variance_), model.noise_variance_, k, cost)
    return [name for name, _ in chosen]


@dataclass(frozen=True)
class PlannedRun:
    """One reference task to fine-tune a new model on, in the order the task-choice rule gives.

    ``spread_sd_after`` is the model's posterior standard deviation of its deviation from the task level,
    averaged over the reference tasks, once this run and the ones before it are in (``spread_sd_before``: with
    the runs it already has).
    """

    task: str
    kind: str | None
    metric: str | None
    n_examples: int | None
    spread_sd_before: float
    spread_sd_after: float


def plan_onboarding(forecaster: "JointForecaster", model: str, k: int = 5,
                    descriptors: pd.DataFrame | None = None, exclude: Sequence[str] = ()) -> list[PlannedRun]:
    """The ``k`` reference tasks whose runs would shrink ``model``'s forecast uncertainty most, best first.

    Tasks in ``exclude`` (e.g. without data at hand, or already run) are not proposed.

    Example:
        >>> [run.task for run in plan_onboarding(advisor_forecaster, "qwen2.5-7b", 3)]   # doctest: +SKIP
        ['boolq', 'viggo', 'arc_combined']
    """
    spread = forecaster.core_.spread_
    heuristics = forecaster.train_heuristics_
    features = FeatureSpec(spread.recipe.features).matrix(heuristics) if spread.recipe.features else pd.DataFrame(index=heuristics.index)
    known = forecaster.descriptors_ if descriptors is None else pd.concat(
        [forecaster.descriptors_, descriptors[~descriptors.index.isin(forecaster.descriptors_.index)]])
    if not spread.knows(model, known):
        raise ValueError(f"base model {model!r} has no runs and no descriptors; add it to the registry first")
    if model in spread.reference_:
        return []
    theta, cov, _ = spread.posterior(model, known)
    phi_all = spread._design(features)
    precision = np.linalg.inv(cov)
    average_sd = lambda c: float(np.sqrt(np.einsum("ij,jk,ik->i", phi_all, c, phi_all)).mean())  # noqa: E731
    candidates = features.drop(index=[t for t in exclude if t in features.index])
    counts = heuristics.get("n_examples", pd.Series(np.nan, index=heuristics.index))
    chosen = _greedy_design(phi_all, spread._design(candidates), list(candidates.index), precision,
                            spread.noise_variance_, k, counts.reindex(candidates.index).fillna(np.inf))
    out, before = [], average_sd(cov)
    for name, after_precision in chosen:
        after = average_sd(np.linalg.inv(after_precision))
        out.append(PlannedRun(
            task=name, kind=heuristics.loc[name].get("task_type"), metric=heuristics.loc[name].get("metric"),
            n_examples=None if pd.isna(counts.get(name)) else int(counts[name]),
            spread_sd_before=before, spread_sd_after=after,
        ))
        before = after
    return out


def _greedy_design(targets_phi: np.ndarray, candidates_phi: np.ndarray, names: list[str], precision: np.ndarray,
                   noise_variance: float, k: int, cost: pd.Series) -> list[tuple[str, np.ndarray]]:
    """Greedy A-optimal design: add, one at a time, the candidate that most lowers the mean posterior variance
    over ``targets_phi``; ties go to the cheaper candidate, then to the name. Returns (name, precision after)."""
    chosen: list[tuple[str, np.ndarray]] = []
    for _ in range(min(k, len(names))):
        best = None
        for i, name in enumerate(names):
            if any(name == c for c, _ in chosen):
                continue
            trial = precision + np.outer(candidates_phi[i], candidates_phi[i]) / noise_variance
            variance = float(np.einsum("ij,jk,ik->i", targets_phi, np.linalg.inv(trial), targets_phi).mean())
            key = (round(variance, 12), float(cost[name]), name)
            if best is None or key < best[0]:
                best = (key, name, trial)
        chosen.append((best[1], best[2]))
        precision = best[2]
    return chosen


@dataclass(frozen=True)
class CurvePoint:
    """Held-out figures of a new model's forecasts after ``k`` revealed runs (means over the held-out models)."""

    k: int
    rule: str
    mae: float
    spearman: float
    mean_regret: float


@dataclass(frozen=True)
class OnboardingCurve:
    """The onboarding curve (``points`` by rule and k) and the figures of models with all their runs."""

    points: list[CurvePoint]
    full_mae: float
    full_spearman: float
    full_regret: float
    models: list[str]
    n_tasks: int
    recipe: str

    def to_dict(self) -> dict:
        by_k = {}
        for p in self.points:
            by_k.setdefault(str(p.k), {})[p.rule] = {"mae": p.mae, "spearman": p.spearman, "mean_regret": p.mean_regret}
        rule3 = next((p for p in self.points if p.k == 3 and p.rule == "chosen"), None)
        return {
            "curve": by_k,
            "all_runs": {"mae": self.full_mae, "spearman": self.full_spearman, "mean_regret": self.full_regret},
            "goal_k3_mae_within_10pct": None if rule3 is None else bool(rule3.mae <= 1.1 * self.full_mae),
            "chosen_beats_random_k1_3": self._rule_beats_random(),
            "models": self.models, "n_tasks": self.n_tasks, "recipe": self.recipe,
        }

    def _rule_beats_random(self) -> dict[str, bool]:
        out = {}
        for k in (1, 2, 3):
            chosen = next((p for p in self.points if p.k == k and p.rule == "chosen"), None)
            random = next((p for p in self.points if p.k == k and p.rule == "random"), None)
            if chosen and random:
                out[str(k)] = bool(chosen.mae < random.mae)
        return out

    def format(self) -> str:
        lines = [f"Onboarding curve: each of {len(self.models)} base models held out in turn, its runs on k tasks "
                 f"revealed, its other {self.n_tasks - 1} tasks forecast (each with that task held out)",
                 f"recipe: {self.recipe}", "",
                 f"{'k':>3}  {'rule':<8}{'MAE':>8}{'Spearman':>10}{'regret':>9}"]
        for p in self.points:
            lines.append(f"{p.k:>3}  {p.rule:<8}{p.mae:>8.3f}{p.spearman:>10.3f}{p.mean_regret:>9.4f}")
        lines.append(f"all  {'runs':<8}{self.full_mae:>8.3f}{self.full_spearman:>10.3f}{self.full_regret:>9.4f}")
        d = self.to_dict()
        lines.append("")
        lines.append(f"goal: MAE with k=3 within 10% of all runs' -> {'met' if d['goal_k3_mae_within_10pct'] else 'NOT met'}; "
                     f"rule beats random at k=1,2,3 -> {d['chosen_beats_random_k1_3']}")
        return "\n".join(lines)


def onboarding_curve(table: TrainingTable, ks: Sequence[int] = CURVE_KS, *, seed: int = 0,
                     repeats: int = RANDOM_REPEATS, models: Sequence[str] | None = None) -> OnboardingCurve:
    """Simulate onboarding each model of ``table`` from k runs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    models = list(models or table.models)
    tasks = table.tasks
    counts = table.heuristics.get("n_examples", pd.Series(0.0, index=tasks))
    records: dict[tuple[str, int], list[tuple[str, str, float, float]]] = {}
    full: list[tuple[str, str, float, float]] = []
    recipe_name = ""
    for held in models:
        others = [m for m in table.models if m != held]
        sub = TrainingTable._trusted(
            finetuned=table.finetuned[others], base=table.base[others], gpt4=table.gpt4,
            heuristics=table.heuristics, descriptors=table.descriptors.loc[others], excluded={},
        )
        recipe = choose_recipe(sub, seed=seed).recipe
        recipe_name = recipe.name
        level_X = FeatureSpec(recipe.level.features).matrix(table.heuristics) if recipe.level.features else pd.DataFrame(index=tasks)
        spread_X = FeatureSpec(recipe.spread.features).matrix(table.heuristics) if recipe.spread.features else pd.DataFrame(index=tasks)
        levels = task_levels(table.finetuned[others])
        for task in tasks:
            rest = [t for t in tasks if t != task]
            level = LevelModel(recipe.level, seed).fit(level_X.loc[rest], levels.loc[rest]).predict(level_X.loc[[task]])[0]
            deviations = table.finetuned.loc[rest].sub(levels.loc[rest], axis=0)
            others_model = SpreadModel(recipe.spread).fit(deviations[others], spread_X.loc[rest],
                                                          table.descriptors, others)
            other_pred = level + others_model.predict(spread_X.loc[[task]], others).mean.iloc[0]
            actual = table.finetuned.loc[task]
            # All its runs: the held-out model as a reference model.
            all_runs = SpreadModel(recipe.spread).fit(deviations, spread_X.loc[rest], table.descriptors, table.models)
            full_pred = level + all_runs.predict(spread_X.loc[[task]], [held]).mean.iloc[0, 0]
            full.append((held, task, full_pred, _regret(actual, other_pred, held, full_pred)))
            for k in ks:
                for rule in ("chosen", "random"):
                    choices = ([choose_onboarding_tasks(others_model, spread_X.loc[rest], k, cost=counts)]
                               if rule == "chosen" else
                               [list(rng.choice(rest, size=k, replace=False)) for _ in range(repeats if k else 1)])
                    for revealed in choices:
                        observed = deviations[others].copy()
                        observed[held] = np.nan
                        observed.loc[revealed, held] = deviations.loc[revealed, held]
                        model = SpreadModel(recipe.spread).fit(observed, spread_X.loc[rest], table.descriptors, others)
                        pred = level + model.predict(spread_X.loc[[task]], [held], table.descriptors).mean.iloc[0, 0]
                        records.setdefault((rule, k), []).append(
                            (held, task, pred, _regret(actual, other_pred, held, pred)))
    actual = table.finetuned
    points = []
    for (rule, k), rows in sorted(records.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        frame = pd.DataFrame(rows, columns=["model", "task", "pred", "regret"])
        points.append(CurvePoint(k, rule, *_summaries(frame, actual)))
    full_frame = pd.DataFrame(full, columns=["model", "task", "pred", "regret"])
    full_mae, full_spearman, full_regret = _summaries(full_frame, actual)
    return OnboardingCurve(points, full_mae, full_spearman, full_regret, models, len(tasks), recipe_name)


def _regret(actual: pd.Series, others: pd.Series, held: str, held_pred: float) -> float:
    """Regret of picking among every model, the held-out one forecast at ``held_pred``."""
    pred = others.copy()
    pred[held] = held_pred
    pick = pred.idxmax()
    return float(actual.max() - actual[pick])


def _summaries(frame: pd.DataFrame, actual: pd.DataFrame) -> tuple[float, float, float]:
    """(MAE over cells, mean per-model Spearman across tasks, mean regret), averaging repeats per cell first."""
    cells = frame.groupby(["model", "task"]).mean(numeric_only=True).reset_index()
    cells["actual"] = [actual.loc[t, m] for m, t in zip(cells["model"], cells["task"])]
    mae = float((cells["pred"] - cells["actual"]).abs().mean())
    spearmans = [spearmanr(g["pred"], g["actual"]).statistic for _, g in cells.groupby("model")
                 if g["pred"].nunique() > 1 and g["actual"].nunique() > 1]
    return mae, float(np.mean(spearmans)) if spearmans else float("nan"), float(cells["regret"].mean())

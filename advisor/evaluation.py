"""Measuring forecasts on tasks they never saw: leave-one-task-out, plain and nested.

The question users ask is about a *new* task, so folds are grouped by task: each task is forecast by a
forecaster that never saw any of its runs nor its profile. *Plain* leave-one-task-out evaluates one fixed
recipe; *nested* leave-one-task-out evaluates the selection rule itself: in every fold the recipe is chosen
by an inner leave-one-task-out over the training tasks only (:func:`advisor.selection.choose_recipe`), so the
figure includes the noise of choosing. The nested figures are the ones to quote.

Every figure comes from the same joint forecasts (:class:`advisor.forecaster.JointForecast`): point accuracy,
ranking, interval coverage and sharpness (Winkler score, against constant-width intervals of the same nominal
level calibrated the same way), P(beat GPT-4) (AUC, Brier, and coherence with the point forecasts), P(best)
(Brier) and the expected regret against the realized one.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from advisor.forecaster import JointForecast, JointForecaster
from advisor.training_data import TrainingTable

#: Builds a fitted forecaster from a training table (a fixed recipe, or the selection rule).
ForecasterFactory = Callable[[TrainingTable], JointForecaster]


@dataclass(frozen=True)
class ForecastMetrics:
    """Out-of-fold metrics of forecasts on ``n_tasks`` held-out tasks (scores on each task's metric, in [0, 1]).

    Point and ranking: ``mae``, ``rmse``, ``spearman`` (mean per-task rank correlation across base models),
    ``top1_hit_rate``, ``mean_regret``/``worst_regret`` (best actual score minus the pick's). Intervals at the
    nominal ``interval_level``: ``interval_coverage``, ``interval_width`` (mean), ``width_ratio`` (widest task's
    mean width over the narrowest's), ``winkler`` (mean interval score: width plus 2/alpha times any miss;
    lower is better) and ``winkler_constant`` (the same for constant-width intervals calibrated on the same
    training errors). Beating GPT-4: ``auc_beat_gpt4``, ``brier_beat_gpt4``, ``incoherent_beat_gpt4`` (cells
    where P(beat) and the point forecasts disagree; must be 0). Choosing: ``brier_best`` (of P(best)),
    ``expected_regret`` (mean forecast) vs ``mean_regret`` (realized). ``base_mae``/``lift_mae``: zero-shot
    score and lift (0 base error where base scores were measured).
    """

    n_tasks: int
    mae: float
    rmse: float
    spearman: float
    top1_hit_rate: float
    mean_regret: float
    worst_regret: float
    interval_level: float
    interval_coverage: float
    interval_width: float
    width_ratio: float
    winkler: float
    winkler_constant: float
    auc_beat_gpt4: float | None
    brier_beat_gpt4: float | None
    incoherent_beat_gpt4: int
    brier_best: float
    expected_regret: float
    base_mae: float
    lift_mae: float

    def to_dict(self) -> dict:
        return asdict(self)


def ranking_metrics(pred: pd.DataFrame, actual: pd.DataFrame) -> dict[str, float]:
    """MAE, RMSE, mean per-task Spearman, top-1 hit rate and regret of forecasts against actual scores.

    A task where every model scored the same has no defined Spearman and is skipped in that mean; picking
    any model there is a hit with zero regret.

    Example:
        >>> a = pd.DataFrame({"m1": [0.9], "m2": [0.5]}); p = pd.DataFrame({"m1": [0.8], "m2": [0.6]})
        >>> round(ranking_metrics(p, a)["mae"], 3), ranking_metrics(p, a)["top1_hit_rate"]
        (0.1, 1.0)
    """
    pred = pred.loc[actual.index, actual.columns]
    err = (pred - actual).to_numpy()
    err = err[~np.isnan(err)]
    spearmans, hits, regrets = [], [], []
    for task in actual.index:
        a = actual.loc[task].dropna()
        p = pred.loc[task, a.index]
        if a.nunique() > 1 and p.nunique() > 1:
            spearmans.append(spearmanr(p, a).statistic)
        regret = a.max() - a[p.idxmax()]
        regrets.append(regret)
        hits.append(regret <= 1e-12)
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "spearman": float(np.mean(spearmans)) if spearmans else float("nan"),
        "top1_hit_rate": float(np.mean(hits)),
        "mean_regret": float(np.mean(regrets)),
        "worst_regret": float(np.max(regrets)),
    }


def winkler_score(low: np.ndarray, high: np.ndarray, actual: np.ndarray, level: float) -> np.ndarray:
    """Interval (Winkler) score of each central ``level`` interval: width + (2/alpha) x distance outside.

    Example:
        >>> winkler_score(np.array([0.2]), np.array([0.4]), np.array([0.5]), 0.8).round(3).tolist()
        [1.2]
    """
    alpha = 1 - level
    return (high - low) + (2 / alpha) * (np.maximum(low - actual, 0) + np.maximum(actual - high, 0))


@dataclass(frozen=True)
class HeldOutForecasts:
    """Each task's out-of-fold forecast, and the constant-width interval half-widths of its fold."""

    forecasts: dict[str, JointForecast]
    constant_half_width: dict[str, tuple[float, float]]


def leave_one_task_out(factory: ForecasterFactory, table: TrainingTable, *,
                       base_scores: bool = False, tasks: Sequence[str] | None = None) -> HeldOutForecasts:
    """Forecast each task (default: all) with a forecaster built by ``factory`` from all the other tasks.

    With ``base_scores`` the held-out task's measured zero-shot scores are given to the forecaster.
    """
    out, constant = {}, {}
    for task in tasks or table.tasks:
        train = table.subset([t for t in table.tasks if t != task])
        forecaster = factory(train)
        base = table.base.loc[[task]] if base_scores else None
        [forecast] = forecaster.predict(table.heuristics.loc[[task]], base_scores=base, models=list(table.models))
        out[task] = forecast
        constant[task] = _constant_interval(forecaster)
    return HeldOutForecasts(out, constant)


def _constant_interval(forecaster: JointForecaster) -> tuple[float, float]:
    """The error quantiles of constant-width intervals: pooled out-of-fold score errors of the training tasks."""
    errors = forecaster.oof_errors_
    scores = errors[forecaster.reference_].add(errors["level"], axis=0).to_numpy().ravel()
    alpha = (1 - forecaster.interval_level) / 2
    low, high = np.nanquantile(scores, [alpha, 1 - alpha])
    return float(low), float(high)


def score_forecasts(held_out: HeldOutForecasts, table: TrainingTable) -> ForecastMetrics:
    """Every :class:`ForecastMetrics` figure of out-of-fold forecasts against the table's actual scores."""
    tasks = list(held_out.forecasts)
    models = list(table.models)
    actual = table.finetuned.loc[tasks, models]
    first = held_out.forecasts[tasks[0]]
    level = first.interval_level
    point, low, high, p_beat, base, p_best, expected = {}, {}, {}, {}, {}, {}, {}
    coherent_violations = 0
    for task, f in held_out.forecasts.items():
        idx = [f.models.index(m) for m in models]
        point[task] = pd.Series(f.point[idx], index=models)
        lo, hi = f.interval()
        low[task], high[task] = pd.Series(lo[idx], index=models), pd.Series(hi[idx], index=models)
        p_beat[task] = pd.Series(f.p_beat_gpt4[idx], index=models)
        base[task] = pd.Series(f.base[idx], index=models)
        p_best[task] = pd.Series(f.p_best[idx], index=models)
        expected[task] = f.expected_regret
        below = f.center[idx] < f.gpt4_center - 1e-12
        above = f.center[idx] > f.gpt4_center + 1e-12
        coherent_violations += int(((f.p_beat_gpt4[idx] >= 0.5) & below).sum() + ((f.p_beat_gpt4[idx] <= 0.5) & above).sum())
    frame = lambda d: pd.DataFrame(d).T.loc[tasks, models]  # noqa: E731
    point, low, high, p_beat, base, p_best = map(frame, (point, low, high, p_beat, base, p_best))
    ranking = ranking_metrics(point, actual)
    known = actual.notna()
    inside = (actual >= low) & (actual <= high)
    width = (high - low)
    task_width = width.mean(axis=1)
    wink = winkler_score(low.to_numpy(), high.to_numpy(), actual.to_numpy(), level)
    const_low = np.array([[held_out.constant_half_width[t][0]] * len(models) for t in tasks])
    const_high = np.array([[held_out.constant_half_width[t][1]] * len(models) for t in tasks])
    center = point.to_numpy()
    wink_const = winkler_score(np.clip(center + const_low, 0, 1), np.clip(center + const_high, 0, 1), actual.to_numpy(), level)
    gpt4 = table.gpt4.reindex(tasks)
    has_gpt4 = known & pd.DataFrame(np.repeat(gpt4.notna().to_numpy()[:, None], len(models), 1), index=tasks, columns=models)
    beats = actual.gt(gpt4, axis=0)
    labels = beats[has_gpt4].stack().astype(float).to_numpy()
    probs = p_beat[has_gpt4].stack().to_numpy()
    auc = float(roc_auc_score(labels, probs)) if 0 < labels.sum() < len(labels) else None
    best = actual.eq(actual.max(axis=1), axis=0).astype(float)
    best = best.div(best.sum(axis=1), axis=0)
    measured_base = table.base.loc[tasks, models]
    return ForecastMetrics(
        n_tasks=len(tasks), **ranking, interval_level=level,
        interval_coverage=float(inside[known].stack().mean()),
        interval_width=float(width[known].stack().mean()),
        width_ratio=float(task_width.max() / max(task_width.min(), 1e-9)),
        winkler=float(np.nanmean(np.where(known, wink, np.nan))),
        winkler_constant=float(np.nanmean(np.where(known, wink_const, np.nan))),
        auc_beat_gpt4=auc,
        brier_beat_gpt4=float(np.mean((probs - labels) ** 2)) if len(labels) else None,
        incoherent_beat_gpt4=coherent_violations,
        brier_best=float(((p_best - best) ** 2).sum(axis=1).mean()),
        expected_regret=float(np.mean(list(expected.values()))),
        base_mae=float((base - measured_base).abs().stack().mean()),
        lift_mae=float(((point - base) - (actual - measured_base)).abs().stack().mean()),
    )


def per_model_mean_baseline(results: pd.DataFrame) -> dict[str, float]:
    """The baseline on the study's whole table (no profiles needed): each task forecast by the per-model mean
    fine-tuned score over the other tasks. ``results`` has columns task, model, finetuned_score."""
    actual = results.pivot_table(index="task", columns="model", values="finetuned_score")
    pred = pd.DataFrame([actual.drop(index=task).mean(axis=0).rename(task) for task in actual.index])
    return {"n_tasks": len(actual), **ranking_metrics(pred, actual)}

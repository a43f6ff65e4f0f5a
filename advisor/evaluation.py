"""Honest model selection: leave-one-task-out cross-validation of every candidate predictor.

The question users ask is about a *new* task, so folds are grouped by task: each task is forecast by
a predictor that never saw any of its runs (nor its profile). Uncertainty (intervals, P(beat GPT-4))
is calibrated inside each training fold only, so its coverage is measured on truly held-out tasks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from advisor.estimators import Blend, JointLightGBM, LevelAndSpread, PerModelMean, ScoreEstimator, TwoStage
from advisor.features import INVARIANT_STUDY_FEATURES, TASK_TYPE_FEATURES, FeatureSpec
from advisor.predictor import Predictor
from advisor.training_data import TrainingTable


@dataclass(frozen=True)
class CandidateMetrics:
    """Leave-one-task-out metrics of one candidate (scores on the tasks' own metrics, in [0, 1]).

    ``base_mae`` and ``lift_mae`` are the errors of the zero-shot base score and of the lift (fine-tuned minus
    base) forecasts; with measured base scores given, the base score is the measured one (error 0).
    """

    n_tasks: int
    mae: float
    rmse: float
    spearman: float
    top1_hit_rate: float
    mean_regret: float
    worst_regret: float
    auc_beat_gpt4: float | None = None
    brier_beat_gpt4: float | None = None
    interval_coverage: float | None = None
    interval_width: float | None = None
    base_mae: float | None = None
    lift_mae: float | None = None
    uses_base_scores: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    """A named recipe for a predictor: which features, which score estimator; and which features and
    task-level regressor the auxiliary models (base score, GPT-4, margin over GPT-4) use."""

    name: str
    features: tuple[str, ...]
    make_estimator: Callable[[], ScoreEstimator]

    aux_features: tuple[str, ...] | None = None
    margin_model: str = "ridge"

    def predictor(self, **kwargs) -> Predictor:
        aux = FeatureSpec(self.aux_features) if self.aux_features else None
        return Predictor(FeatureSpec(self.features), self.make_estimator(), aux_spec=aux,
                         margin_model=self.margin_model, **kwargs)


def ranking_metrics(pred: pd.DataFrame, actual: pd.DataFrame) -> dict[str, float]:
    """MAE, RMSE, mean per-task Spearman, top-1 hit rate and regret of forecasts against actual scores.

    A task where every model scored the same has no defined Spearman and is skipped in that mean;
    picking any model there is a hit with zero regret.

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
        a, p = actual.loc[task].dropna(), pred.loc[task, actual.loc[task].dropna().index]
        if a.nunique() > 1 and p.nunique() > 1:
            spearmans.append(spearmanr(p, a).statistic)
        pick = p.idxmax()
        regret = a.max() - a[pick]
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


def per_model_mean_baseline(results: pd.DataFrame) -> CandidateMetrics:
    """The baseline on the study's whole table (no profiles needed): each task forecast by the per-model
    mean fine-tuned score over the other tasks. ``results`` has columns task, model, finetuned_score."""
    actual = results.pivot_table(index="task", columns="model", values="finetuned_score")
    preds = []
    for task in actual.index:
        others = actual.drop(index=task)
        preds.append(others.mean(axis=0).rename(task))
    pred = pd.DataFrame(preds)
    return CandidateMetrics(n_tasks=len(actual), **ranking_metrics(pred, actual))


@dataclass(frozen=True)
class FoldForecasts:
    """Out-of-fold forecasts of one candidate for every task (tasks x models frames)."""

    finetuned: pd.DataFrame
    low: pd.DataFrame
    high: pd.DataFrame
    p_beat: pd.DataFrame
    base: pd.DataFrame


def leave_one_task_out(candidate: Candidate, table: TrainingTable, *, seed: int = 0) -> FoldForecasts:
    """Forecast each task with a predictor fit on all the other tasks."""
    parts: dict[str, list] = {"finetuned": [], "low": [], "high": [], "p_beat": [], "base": []}
    for task in table.tasks:
        train = table.subset([t for t in table.tasks if t != task])
        predictor = candidate.predictor(seed=seed).fit(train)
        base = table.base.loc[[task]] if predictor.estimator.uses_base_scores else None
        out = predictor.predict(table.heuristics.loc[[task]], base_scores=base)
        parts["finetuned"].append(out.finetuned)
        parts["low"].append(out.interval_low)
        parts["high"].append(out.interval_high)
        parts["p_beat"].append(out.p_beat_gpt4)
        parts["base"].append(out.base)
    return FoldForecasts(**{k: pd.concat(v) for k, v in parts.items()})


def evaluate_candidate(candidate: Candidate, table: TrainingTable, *, seed: int = 0) -> CandidateMetrics:
    """All metrics of one candidate by leave-one-task-out cross-validation."""
    oof = leave_one_task_out(candidate, table, seed=seed)
    actual = table.finetuned
    metrics = ranking_metrics(oof.finetuned, actual)
    inside = (actual >= oof.low) & (actual <= oof.high)
    known = actual.notna()
    beats = actual.gt(table.gpt4, axis=0)
    has_gpt4 = known & pd.DataFrame(np.repeat(table.gpt4.notna().to_numpy()[:, None], actual.shape[1], 1), index=actual.index, columns=actual.columns)
    labels, probs = beats[has_gpt4].stack().astype(float).to_numpy(), oof.p_beat[has_gpt4].stack().to_numpy()
    auc = float(roc_auc_score(labels, probs)) if 0 < labels.sum() < len(labels) else None
    return CandidateMetrics(
        n_tasks=len(table.tasks),
        **metrics,
        auc_beat_gpt4=auc,
        brier_beat_gpt4=float(np.mean((probs - labels) ** 2)) if len(labels) else None,
        interval_coverage=float(inside[known].stack().mean()),
        interval_width=float((oof.high - oof.low)[known].stack().mean()),
        base_mae=float((oof.base - table.base).abs().stack().mean()),
        lift_mae=float(((oof.finetuned - oof.base) - (actual - table.base)).abs().stack().mean()),
        uses_base_scores=candidate.make_estimator().uses_base_scores,
    )


def leave_one_model_out(candidate: Candidate, table: TrainingTable, *, seed: int = 0, task_folds: int = 5) -> dict[str, float]:
    """MAE of forecasts for a base model that has no runs at all (descriptors only), per held-out model.

    Each (task, model) cell is forecast by an estimator that saw neither that model (left out whole) nor
    that task (tasks dealt round-robin into ``task_folds`` folds): the task level comes from the other
    models' forecasts, the model's offset from its descriptors.
    """
    from advisor.predictor import DescriptorOffsets

    spec = FeatureSpec(candidate.features)
    features = spec.matrix(table.heuristics)
    tasks = table.tasks
    n_folds = min(task_folds, len(tasks))
    errors: dict[str, list[float]] = {m: [] for m in table.models}
    for model in table.models:
        others = [m for m in table.models if m != model]
        for fold in range(n_folds):
            test = tasks[fold::n_folds]
            train_tasks = [t for i, t in enumerate(tasks) if i % n_folds != fold]
            train = TrainingTable._trusted(
                finetuned=table.finetuned.loc[train_tasks, others], base=table.base.loc[train_tasks, others],
                gpt4=table.gpt4.loc[train_tasks], heuristics=table.heuristics.loc[train_tasks],
                descriptors=table.descriptors.loc[others], excluded={},
            )
            estimator = candidate.make_estimator().fit(train, features.loc[train_tasks], "finetuned")
            base = table.base.loc[test, others] if estimator.uses_base_scores else None
            level = estimator.predict(features.loc[test], base).mean(axis=1)
            offset = DescriptorOffsets().fit(train).predict(table.descriptors.loc[[model]]).loc[model, "finetuned"]
            forecast = (level + offset).clip(0, 1)
            errors[model] += list((forecast - table.finetuned.loc[test, model]).abs().dropna())
    return {m: float(np.mean(e)) for m, e in errors.items()}


def _blend(use_base_scores: bool) -> Blend:
    """Selected ridge + nearest tasks (each with nearest-task deviations) + joint LightGBM, averaged."""
    return Blend([TwoStage("ridge-select", "knn", use_base_scores=use_base_scores),
                  TwoStage("knn", "knn", use_base_scores=use_base_scores), JointLightGBM(use_base_scores=use_base_scores)])


def default_candidates(extra_features: Sequence[str] = (), learner_features: Sequence[str] = ()) -> list[Candidate]:
    """The candidates compared by ``advisor evaluate``: baseline, ridge, LightGBM, nearest tasks, blends,
    each without and with measured base scores; with ``learner_features`` (the simple-learner scores) also
    the recipes that read them."""
    study = INVARIANT_STUDY_FEATURES
    wide = study + tuple(extra_features)
    typed = wide + TASK_TYPE_FEATURES
    learner = tuple(learner_features)
    out = []
    for base in (False, True):
        # The auxiliary models (base score, GPT-4, margin over GPT-4) are the same in every candidate, so
        # that candidates differ only in how they forecast the fine-tuned score.
        sfx = "+base" if base else ""
        out += [
            Candidate("per-model-mean" + sfx, study, lambda b=base: PerModelMean(use_base_scores=b)),
            Candidate("ridge" + sfx, study, lambda b=base: TwoStage("ridge", "mean", use_base_scores=b)),
            Candidate("ridge-select" + sfx, wide, lambda b=base: TwoStage("ridge-select", "mean", use_base_scores=b)),
            Candidate("lightgbm" + sfx, wide, lambda b=base: TwoStage("lightgbm", "mean", use_base_scores=b)),
            Candidate("lightgbm-joint" + sfx, wide, lambda b=base: JointLightGBM(use_base_scores=b)),
            Candidate("nearest-tasks" + sfx, study, lambda b=base: TwoStage("knn", "knn", use_base_scores=b)),
            Candidate("nearest-tasks-wide" + sfx, wide, lambda b=base: TwoStage("knn", "knn", use_base_scores=b)),
            Candidate("blend" + sfx, wide, lambda b=base: _blend(b)),
            # The same recipes reading the detected task type too.
            Candidate("ridge-select-typed" + sfx, typed, lambda b=base: TwoStage("ridge-select", "mean", use_base_scores=b)),
            Candidate("lightgbm-joint-typed" + sfx, typed, lambda b=base: JointLightGBM(use_base_scores=b)),
            Candidate("nearest-tasks-typed" + sfx, typed, lambda b=base: TwoStage("knn", "knn", use_base_scores=b)),
            Candidate("blend-typed" + sfx, typed, lambda b=base: _blend(b)),
        ]
        if learner:
            # The simple-learner score puts the task on its metric's scale: added to the study's heuristics
            # in the study's ridge; added to the typed blend; and as the level of a forecast whose spread
            # across base models comes from that blend (a ridge over the study's heuristics, the score and
            # the task type places the task; the blend ranks the models).
            level = study + learner + TASK_TYPE_FEATURES
            out += [
                Candidate("ridge-learner" + sfx, study + learner, lambda b=base: TwoStage("ridge", "mean", use_base_scores=b)),
                Candidate("blend-typed-learner" + sfx, typed + learner, lambda b=base: _blend(b)),
                Candidate("level-ridge+blend" + sfx, typed + learner,
                          lambda b=base: LevelAndSpread(level, _blend(b), use_base_scores=b)),
            ]
    # The auxiliary models read every heuristic the profiles define; the margin over GPT-4 is a LightGBM
    # task level (leave-one-task-out: AUC 0.837 and Brier 0.150 against 0.812 and 0.163 for a ridge on
    # the same features).
    return [replace(c, aux_features=typed + learner, margin_model="lightgbm") for c in out]

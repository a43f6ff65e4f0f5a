"""Candidate estimators of a task x base-model score matrix.

Every estimator follows one shape: ``fit(table, target)`` learns from a :class:`TrainingTable`, and
``predict(features, base)`` returns a tasks x models frame of scores in [0, 1]. ``features`` is the
task feature matrix (already scaled by :class:`FeatureSpec`); ``base`` holds measured zero-shot base
scores (tasks x models, NaN where not measured) or is ``None``.

Most candidates are *two-stage*: a task-level regressor forecasts the task's mean score over base
models from its heuristics (where nearly all the variance is), and a per-model deviation from that mean
is added (the base models' relative strengths). With measured base scores the task level also reads
their mean, and each model's deviation reads its own base score's deviation.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from advisor.linear import ForwardSelectedRidge, StandardizedKNN, StandardizedRidgeCV
from advisor.training_data import TrainingTable

BASE_MEAN_FEATURE = "measured_base_mean"


def clip01(frame: pd.DataFrame) -> pd.DataFrame:
    """Scores clipped to [0, 1] (numpy-level: pandas' own clip is slow in the cross-validation loops)."""
    return pd.DataFrame(np.clip(frame.to_numpy(dtype=float), 0.0, 1.0), index=frame.index, columns=frame.columns)


def target_matrix(table: TrainingTable, target: str) -> pd.DataFrame:
    if target == "finetuned":
        return table.finetuned
    if target == "base":
        return table.base
    if target == "margin":
        # How far each fine-tuned model lands above (+) or below (-) GPT-4 on the task.
        return table.finetuned.sub(table.gpt4, axis=0)
    raise ValueError(f"unknown target {target!r}; expected 'finetuned', 'base' or 'margin'")


def measured_base_mean(base: pd.DataFrame | None, index: pd.Index) -> pd.Series | None:
    """Mean measured base score per task, or None when no base scores are given at all."""
    if base is None:
        return None
    mean = base.reindex(index).mean(axis=1, skipna=True)
    return None if mean.isna().all() else mean


class ScoreEstimator(ABC):
    """Forecasts a tasks x models score matrix from task features (and measured base scores)."""

    name: str = "estimator"
    uses_base_scores: bool = False

    @abstractmethod
    def fit(self, table: TrainingTable, features: pd.DataFrame, target: str = "finetuned") -> "ScoreEstimator":
        """Learn from the training table; ``features`` is its task feature matrix."""

    @abstractmethod
    def predict(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.DataFrame:
        """Scores for each task (row of ``features``) and each trained base model."""

    def clone(self) -> "ScoreEstimator":
        return copy.deepcopy(self)


class PerModelMean(ScoreEstimator):
    """Baseline: each base model's mean score over the training tasks, the same for every new task.

    With base scores it becomes "measured base score + the model's mean lift" (uses_base_scores=True).
    """

    def __init__(self, use_base_scores: bool = False) -> None:
        self.uses_base_scores = use_base_scores
        self.name = "per-model-mean" + ("+base" if use_base_scores else "")

    def fit(self, table: TrainingTable, features: pd.DataFrame, target: str = "finetuned") -> "PerModelMean":
        y = target_matrix(table, target)
        self.models_ = list(y.columns)
        self.mean_ = y.mean(axis=0)
        self.mean_lift_ = (table.finetuned - table.base).mean(axis=0) if target == "finetuned" else None
        return self

    def predict(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.DataFrame:
        pred = pd.DataFrame(np.tile(self.mean_.to_numpy(), (len(features), 1)), index=features.index, columns=self.models_)
        if self.uses_base_scores and base is not None and self.mean_lift_ is not None:
            measured = base.reindex(index=features.index, columns=self.models_)
            with_base = measured + self.mean_lift_
            pred = with_base.where(measured.notna(), pred)
        return clip01(pred)


def ridge_regressor() -> StandardizedRidgeCV:
    # Leave-one-out choice of the penalty inside the training tasks only.
    return StandardizedRidgeCV()


def knn_regressor(k: int = 5) -> StandardizedKNN:
    return StandardizedKNN(k)


def lightgbm_regressor(seed: int = 0) -> object:
    import lightgbm as lgb

    # 20-30 training tasks: shallow trees, big leaves, heavy shrinkage, deterministic.
    return lgb.LGBMRegressor(
        n_estimators=150, learning_rate=0.05, num_leaves=4, max_depth=2, min_child_samples=4,
        reg_lambda=5.0, subsample=1.0, colsample_bytree=0.8, random_state=seed, deterministic=True,
        force_row_wise=True, verbose=-1, n_jobs=1,
    )


def selected_ridge_regressor() -> ForwardSelectedRidge:
    return ForwardSelectedRidge(max_features=3)


REGRESSORS = {
    "ridge": ridge_regressor,
    "ridge-select": selected_ridge_regressor,
    "knn": knn_regressor,
    "lightgbm": lightgbm_regressor,
}


@dataclass
class TwoStage(ScoreEstimator):
    """Task-level regressor (``task_level`` in REGRESSORS) + per-model deviations.

    ``deviation``: ``"mean"`` adds each model's mean deviation from the task mean; ``"knn"`` adds the
    deviations the model showed on the ``k`` nearest training tasks, shrunk toward its mean deviation by
    ``shrink`` (0 = mean only, 1 = neighbours only).
    """

    task_level: str = "ridge"
    deviation: str = "mean"
    use_base_scores: bool = False
    k: int = 5
    shrink: float = 0.5
    seed: int = 0
    name: str = field(default="", init=True)

    def __post_init__(self) -> None:
        if self.task_level not in REGRESSORS:
            raise ValueError(f"unknown task-level regressor {self.task_level!r}; choose from {sorted(REGRESSORS)}")
        if self.deviation not in {"mean", "knn"}:
            raise ValueError(f"unknown deviation model {self.deviation!r}; choose 'mean' or 'knn'")
        self.uses_base_scores = self.use_base_scores
        if not self.name:
            self.name = f"{self.task_level}+{self.deviation}-deviation" + ("+base" if self.use_base_scores else "")

    def _task_means(self, y: pd.DataFrame) -> pd.Series:
        """Each task's mean score over base models. Tasks run on only some models (local runs) are put on
        the same footing by removing the models' typical deviations, learned from fully-run tasks."""
        complete = y.notna().all(axis=1)
        source = y[complete] if complete.any() else y
        self.mean_deviation_ = source.sub(source.mean(axis=1), axis=0).mean(axis=0).fillna(0.0)
        return y.sub(self.mean_deviation_, axis=1).mean(axis=1, skipna=True)

    def _task_inputs(self, features: pd.DataFrame, base: pd.DataFrame | None) -> pd.DataFrame:
        if not self.use_base_scores:
            return features
        mean = measured_base_mean(base, features.index)
        if mean is None:
            raise ValueError(f"estimator {self.name} needs measured base scores")
        if mean.isna().any():
            raise ValueError(f"estimator {self.name} needs at least one measured base score per task")
        return features.assign(**{BASE_MEAN_FEATURE: mean.to_numpy()})

    def fit(self, table: TrainingTable, features: pd.DataFrame, target: str = "finetuned") -> "TwoStage":
        y = target_matrix(table, target).loc[features.index]
        self.models_ = list(y.columns)
        task_mean = self._task_means(y)
        n_known = int(task_mean.notna().sum())
        if self.task_level == "knn":
            self.task_model_ = knn_regressor(min(self.k, n_known))
        elif self.task_level == "lightgbm":
            self.task_model_ = lightgbm_regressor(self.seed)
        else:
            self.task_model_ = REGRESSORS[self.task_level]()
        base = table.base if self.use_base_scores else None
        X = self._task_inputs(features, base)
        self.feature_names_ = list(X.columns)
        known = task_mean.notna().to_numpy()
        if known.sum() < 2:
            raise ValueError(f"fewer than 2 training tasks have a {target} score")
        self.task_model_.fit(X.to_numpy()[known], task_mean.to_numpy()[known])
        deviations = y.sub(task_mean, axis=0)
        self.train_deviations_ = deviations.fillna(self.mean_deviation_)
        if self.deviation == "knn":
            self.neighbours_ = StandardizedKNN(self.k).fit(features.to_numpy(), np.zeros(len(features)))
        if self.use_base_scores:
            # How much a model's base-score deviation from the task's base mean carries into its fine-tuned
            # deviation: one shared slope, fit on all training (task, model) cells.
            base_dev = table.base.loc[features.index, self.models_].sub(table.base.loc[features.index, self.models_].mean(axis=1), axis=0)
            resid = deviations - self.mean_deviation_
            mask = base_dev.notna() & resid.notna()
            x, r = base_dev[mask].stack().to_numpy(), resid[mask].stack().to_numpy()
            self.base_slope_ = float(Ridge(alpha=0.1, fit_intercept=False).fit(x[:, None], r).coef_[0]) if len(x) else 0.0
        return self

    def predict_task_level(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.Series:
        X = self._task_inputs(features, base)
        return pd.Series(self.task_model_.predict(X.to_numpy()), index=features.index)

    def predict(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.DataFrame:
        return clip01(self.predict_raw(features, base))

    def predict_raw(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.DataFrame:
        """Forecasts before clipping to [0, 1] (margins and other signed targets)."""
        level = self.predict_task_level(features, base)
        dev = pd.DataFrame(np.tile(self.mean_deviation_.to_numpy(), (len(features), 1)), index=features.index, columns=self.models_)
        if self.deviation == "knn":
            idx, w = self.neighbours_.neighbours(features.to_numpy())
            local = (self.train_deviations_.to_numpy()[idx] * w[:, :, None]).sum(axis=1)
            dev = (1 - self.shrink) * dev + self.shrink * pd.DataFrame(local, index=dev.index, columns=dev.columns)
        if self.use_base_scores and base is not None:
            measured = base.reindex(index=features.index, columns=self.models_)
            base_dev = measured.sub(measured.mean(axis=1), axis=0).fillna(0.0)
            dev = dev + self.base_slope_ * base_dev
        return dev.add(level, axis=0)


@dataclass
class JointLightGBM(ScoreEstimator):
    """One gradient-boosted model over (task, model) cells: task heuristics + model descriptors."""

    use_base_scores: bool = False
    seed: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        self.uses_base_scores = self.use_base_scores
        if not self.name:
            self.name = "lightgbm-joint" + ("+base" if self.use_base_scores else "")

    def _cells(self, features: pd.DataFrame, base: pd.DataFrame | None) -> np.ndarray:
        """One row per (model, task), models in blocks: task features, model descriptors, model mean
        [, measured base score, mean measured base score]. Built in numpy: this runs in every forecast."""
        n = len(features)
        X = features.to_numpy(dtype=float)
        base_mean = measured_base_mean(base, features.index) if self.use_base_scores else None
        blocks = []
        for model in self.models_:
            parts = [X, np.tile(self.descriptors_.loc[model].to_numpy(dtype=float), (n, 1)),
                     np.full((n, 1), self.model_mean_[model])]
            if self.use_base_scores:
                measured = (base.reindex(index=features.index)[model].to_numpy(dtype=float)
                            if base is not None and model in base else np.full(n, np.nan))
                mean = base_mean.to_numpy(dtype=float) if base_mean is not None else np.full(n, np.nan)
                parts += [measured[:, None], mean[:, None]]
            blocks.append(np.hstack(parts))
        return np.vstack(blocks)

    def fit(self, table: TrainingTable, features: pd.DataFrame, target: str = "finetuned") -> "JointLightGBM":
        y = target_matrix(table, target).loc[features.index]
        self.models_ = list(y.columns)
        self.model_mean_ = y.mean(axis=0)
        self.descriptors_ = table.descriptors.drop(columns=["family"])
        X = self._cells(features, table.base if self.use_base_scores else None)
        self.feature_names_ = (
            list(features.columns) + [f"model_{c}" for c in self.descriptors_.columns] + ["model_mean"]
            + (["base_score", BASE_MEAN_FEATURE] if self.use_base_scores else [])
        )
        target_values = np.concatenate([y[m].to_numpy() for m in self.models_])
        keep = ~np.isnan(target_values)
        self.model_ = lightgbm_regressor(self.seed).fit(X[keep], target_values[keep])
        return self

    def predict(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.DataFrame:
        values = self.model_.predict(self._cells(features, base))
        out = pd.DataFrame(values.reshape(len(self.models_), len(features)).T, index=features.index, columns=self.models_)
        return clip01(out)


@dataclass
class LevelAndSpread(ScoreEstimator):
    """The task level from one model, the spread across base models from another.

    The level is a two-stage ``level`` regressor over ``level_features`` only (few, strong features: what
    the task's mean score is); the spread is each model's offset from the task mean in ``spread``'s
    forecast (an estimator that ranks base models well but places the task level less well).

    Example:
        >>> est = LevelAndSpread(("simple_learner_score",), TwoStage("knn", "knn"))
        >>> est.name
        'ridge-level+knn+knn-deviation-spread'
    """

    level_features: tuple[str, ...]
    spread: ScoreEstimator
    level: str = "ridge"
    use_base_scores: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if not self.level_features:
            raise ValueError("the level model needs at least one feature")
        self.uses_base_scores = self.use_base_scores or self.spread.uses_base_scores
        if not self.name:
            self.name = f"{self.level}-level+{self.spread.name}-spread"

    def fit(self, table: TrainingTable, features: pd.DataFrame, target: str = "finetuned") -> "LevelAndSpread":
        missing = [f for f in self.level_features if f not in features.columns]
        if missing:
            raise ValueError(f"level features {missing} are not among the estimator's features")
        self.level_ = TwoStage(self.level, "mean", use_base_scores=self.use_base_scores).fit(
            table, features[list(self.level_features)], target)
        self.spread_ = self.spread.clone().fit(table, features, target)
        self.models_ = self.spread_.models_
        return self

    def predict(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.DataFrame:
        spread = self.spread_.predict(features, base)
        level = self.level_.predict_task_level(features[list(self.level_features)], base)
        return clip01(spread.sub(spread.mean(axis=1), axis=0).add(level, axis=0))


@dataclass
class Blend(ScoreEstimator):
    """The average of several estimators' forecasts."""

    members: list[ScoreEstimator] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a blend needs at least one member")
        self.uses_base_scores = any(m.uses_base_scores for m in self.members)
        if not self.name:
            self.name = "blend(" + ",".join(m.name for m in self.members) + ")"

    def fit(self, table: TrainingTable, features: pd.DataFrame, target: str = "finetuned") -> "Blend":
        self.members = [m.clone().fit(table, features, target) for m in self.members]
        self.models_ = self.members[0].models_
        return self

    def predict(self, features: pd.DataFrame, base: pd.DataFrame | None = None) -> pd.DataFrame:
        preds = [m.predict(features, base) for m in self.members]
        return sum(preds) / len(preds)

"""The task level: a task's mean fine-tuned score over the reference base models, and what forecasts it.

Nearly all of the variance in the study's score table is between tasks (0.25 on four-way multiple choice,
0.2 ROUGE-L on a summary): the level is forecast from the task's heuristics by one small regressor. How the
base models spread around that level is :mod:`advisor.spread`'s job.

Example:
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"a": [0.8, 0.4], "b": [0.6, 0.2]}, index=["t1", "t2"])
    >>> task_levels(scores).round(2).tolist()
    [0.7, 0.3]
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from advisor.linear import StandardizedKNN, StandardizedRidgeCV

#: The regressors a level (or GPT-4 margin) recipe can name.
LEVEL_REGRESSORS: tuple[str, ...] = ("mean", "ridge", "knn", "lightgbm")


def task_levels(scores: pd.DataFrame) -> pd.Series:
    """Each task's mean score over the models (columns) of ``scores``.

    A task run on only some of the models is put on the same footing as the others by removing those models'
    typical deviation from the task mean (learned from the tasks that every model ran); a task without any
    score gets NaN.
    """
    return pd.Series(task_level_values(scores.to_numpy(dtype=float)), index=scores.index)


def task_level_values(scores: np.ndarray) -> np.ndarray:
    """:func:`task_levels` on a tasks x models array (NaN where a model has no run)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row is a task without scores: NaN
        complete = ~np.isnan(scores).any(axis=1)
        source = scores[complete] if complete.any() else scores
        typical = np.nan_to_num(np.nanmean(source - np.nanmean(source, axis=1, keepdims=True), axis=0))
        return np.nanmean(scores - typical, axis=1)


def lightgbm_regressor(seed: int = 0) -> object:
    """Shallow, heavily shrunk, deterministic boosted trees: 20-30 training tasks allow no more."""
    import lightgbm as lgb

    return lgb.LGBMRegressor(
        n_estimators=150, learning_rate=0.05, num_leaves=4, max_depth=2, min_child_samples=4,
        reg_lambda=5.0, subsample=1.0, colsample_bytree=0.8, random_state=seed, deterministic=True,
        force_row_wise=True, verbose=-1, n_jobs=1,
    )


@dataclass(frozen=True)
class LevelRecipe:
    """Which regressor forecasts a task-level quantity, from which features.

    ``regressor`` is one of :data:`LEVEL_REGRESSORS`: ``mean`` (the training tasks' average, ignoring the
    features), ``ridge`` (standardized ridge, penalty by exact leave-one-out error), ``knn`` (distance-weighted
    5 nearest tasks) or ``lightgbm``. ``reads_base_scores``: the task's mean measured zero-shot score is one more
    feature (a forecaster given measured zero-shot scores).

    Example:
        >>> LevelRecipe("ridge", ("simple_learner_score",)).name
        'ridge(simple_learner_score)'
    """

    regressor: str
    features: tuple[str, ...] = ()
    reads_base_scores: bool = False

    def __post_init__(self) -> None:
        if self.regressor not in LEVEL_REGRESSORS:
            raise ValueError(f"unknown regressor {self.regressor!r}; choose from {', '.join(LEVEL_REGRESSORS)}")
        if self.regressor != "mean" and not (self.features or self.reads_base_scores):
            raise ValueError(f"a {self.regressor} recipe needs at least one feature")

    @property
    def name(self) -> str:
        """A short label: the regressor and its features (their count when there are many)."""
        if self.regressor == "mean":
            return "mean"
        base = " + measured zero-shot mean" if self.reads_base_scores else ""
        return f"{self.regressor}({feature_label(self.features)}{base})"


def feature_label(features: tuple[str, ...], most: int = 4) -> str:
    """The feature names joined, or their count when there are more than ``most``.

    Example:
        >>> feature_label(("a", "b")), feature_label(tuple("abcdef"))
        ('a,b', '6 features')
    """
    return ",".join(features) if len(features) <= most else f"{len(features)} features"


class LevelModel:
    """A fitted :class:`LevelRecipe`: ``fit(X, y)`` then ``predict(X)`` on feature matrices (tasks x features,
    frames or arrays; NaN targets are skipped).

    Example:
        >>> X = pd.DataFrame({"f": [0.0, 1.0, 2.0, 3.0]}); y = pd.Series([0.1, 0.3, 0.5, 0.7])
        >>> LevelModel(LevelRecipe("ridge", ("f",))).fit(X, y).predict(X.iloc[:1]).round(2).tolist()
        [0.1]
    """

    def __init__(self, recipe: LevelRecipe, seed: int = 0) -> None:
        self.recipe = recipe
        self.seed = seed

    def fit(self, X: pd.DataFrame | np.ndarray, y: pd.Series | np.ndarray) -> "LevelModel":
        y = np.asarray(y, dtype=float)
        known = ~np.isnan(y)
        if known.sum() < 2:
            raise ValueError("fewer than 2 training tasks have a score to learn the task level from")
        values = y[known]
        self.mean_ = float(values.mean())
        self.columns_ = list(X.columns) if isinstance(X, pd.DataFrame) else None
        if self.recipe.regressor == "mean":
            self.model_ = None
            return self
        A = np.asarray(X, dtype=float)[known]
        if self.recipe.regressor == "ridge":
            self.model_ = StandardizedRidgeCV().fit(A, values)
        elif self.recipe.regressor == "knn":
            self.model_ = StandardizedKNN(min(5, len(values))).fit(A, values)
        else:
            self.model_ = lightgbm_regressor(self.seed).fit(A, values)
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if self.model_ is None:
            return np.full(len(X), self.mean_)
        if isinstance(X, pd.DataFrame):
            X = X[self.columns_].to_numpy(dtype=float) if self.columns_ is not None else X.to_numpy(dtype=float)
        return np.asarray(self.model_.predict(np.asarray(X, dtype=float)), dtype=float)

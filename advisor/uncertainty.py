"""Where a forecast's uncertainty comes from: out-of-fold errors on the training tasks, rescaled per task.

The forecaster is refit with each training task held out (inside the training data only) and its errors on
that task are kept as one *row*: the error of every reference base model's score and of GPT-4's score,
together. Drawing whole rows keeps the errors correlated across models as they really were (a task that
fooled the level forecast fooled it for every model). Each row is divided by its task's *scale* and, for a
new task, multiplied by that task's scale, which a small model forecasts from

* how far the task lies from the training tasks (mean standardized distance to its nearest three),
* how much two different level regressors disagree on it (ridge vs nearest tasks),
* its metric family (some kinds of task are harder to forecast),

fit on the training tasks' own out-of-fold errors. The rows are standardized by leave-one-out scales (so the
pool is as spread out as the errors on tasks the scale model did not see), and a last multiplier, chosen
inside the training tasks so that each task's interval (from the *other* tasks' rows) covers it at the nominal
level, calibrates the width (``JointForecaster._calibrate_width``). The rows are mirrored (each row and its
negative, drawn in antithetic pairs: the error distribution is taken as symmetric, which makes P(beat GPT-4)
coherent with the point forecasts) and lightly smoothed with Gaussian noise.

Example:
    >>> pool = ResidualPool(np.array([[0.1, -0.1], [0.2, 0.0]]), ["m1", "gpt4"])
    >>> pool.draw(4, np.random.default_rng(0), jitter=0.0).shape
    (4, 2)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from advisor.linear import StandardizedRidgeCV

#: Neighbours averaged in the distance input of the scale model.
DISTANCE_NEIGHBOURS = 3
#: Smallest scale (error size) a task can get: no forecast of a new task is that sure.
MIN_SCALE = 0.01
#: Nor can a task's scale fall below this share of the training tasks' average error size: two dozen tasks
#: cannot show that some new task is forecast many times more precisely than the rest.
MIN_RELATIVE_SCALE = 0.25
#: Gaussian smoothing of the standardized residual draws, as a share of their standard deviation.
JITTER = 0.25


@dataclass(frozen=True)
class ResidualPool:
    """Standardized out-of-fold error rows (training tasks x columns: reference models' scores, then GPT-4)."""

    rows: np.ndarray
    columns: list[str]

    def column(self, name: str) -> int:
        return self.columns.index(name)

    def draw(self, n: int, rng: np.random.Generator, jitter: float = JITTER) -> np.ndarray:
        """``n`` joint draws (n x columns) in antithetic pairs: random rows, smoothed, each drawn together with
        its negation, so the draws are exactly symmetric around zero. NaN entries (a task without a GPT-4 score) are filled from the same column of
        other rows."""
        half = (n + 1) // 2
        rows = self.rows[rng.integers(0, len(self.rows), half)].copy()
        for j in range(rows.shape[1]):
            missing = np.isnan(rows[:, j])
            if missing.any():
                known = self.rows[:, j][~np.isnan(self.rows[:, j])]
                rows[missing, j] = rng.choice(known, missing.sum()) if len(known) else 0.0
        spread = float(np.nanstd(self.rows)) or 1.0
        rows = rows + rng.normal(0.0, jitter * spread, rows.shape)
        return np.concatenate([rows, -rows])[:n]


def nearest_distances(query: np.ndarray, points: np.ndarray, k: int = DISTANCE_NEIGHBOURS) -> np.ndarray:
    """Mean Euclidean distance of each query row to its ``k`` nearest ``points`` (already standardized)."""
    if points.shape[1] == 0 or len(points) == 0:
        return np.zeros(len(query))
    dist = np.sqrt(((query[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    k = min(k, dist.shape[1])
    return np.sort(dist, axis=1)[:, :k].mean(axis=1)


class ScaleModel:
    """A task's expected out-of-fold error size from its scale inputs: a ridge on the size itself (floored at
    :data:`MIN_RELATIVE_SCALE` of the average size, and :data:`MIN_SCALE`; the average size when there are no
    inputs). Fitting the size, not its logarithm, keeps
    two dozen single errors from swinging the fit.

    Example:
        >>> inputs = pd.DataFrame({"distance": [0.5, 1.0, 1.5, 2.0, 2.5]})
        >>> sizes = pd.Series([0.05, 0.07, 0.1, 0.14, 0.2])
        >>> model = ScaleModel().fit(inputs, sizes)
        >>> bool(model.predict(inputs.iloc[[4]])[0] > model.predict(inputs.iloc[[0]])[0])
        True
    """

    def fit(self, inputs: pd.DataFrame, sizes: pd.Series) -> "ScaleModel":
        y = np.maximum(sizes.to_numpy(dtype=float), MIN_SCALE)
        self.columns_ = [c for c in inputs.columns if inputs[c].std(ddof=0) > 0]
        self.mean_ = float(y.mean())
        self.model_ = StandardizedRidgeCV().fit(inputs[self.columns_].to_numpy(float), y) if self.columns_ else None
        return self

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        if self.model_ is None:
            return np.full(len(inputs), self.mean_)
        floor = max(MIN_SCALE, MIN_RELATIVE_SCALE * self.mean_)
        return np.maximum(self.model_.predict(inputs[self.columns_].to_numpy(float)), floor)

    @staticmethod
    def leave_one_out(inputs: pd.DataFrame, sizes: pd.Series) -> np.ndarray:
        """Each task's scale from a scale model fit on the other tasks."""
        out = np.empty(len(sizes))
        for i in range(len(sizes)):
            keep = np.arange(len(sizes)) != i
            out[i] = ScaleModel().fit(inputs.iloc[keep], sizes.iloc[keep]).predict(inputs.iloc[[i]])[0]
        return out

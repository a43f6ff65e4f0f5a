"""Measuring a learning-curve extrapolation on complete curves: budgets, back-tests, interval calibration.

The protocol is Lin et al.'s (2024, Table 1): a *budget* ``1/k`` lets the fit use the sizes
``0 < n <= full / k`` of every model's curve and scores its forecasts at the full size ``full`` by the Pearson
correlation (x100) across models with the measured losses. A *back-test* stays inside the budget: it fits the
sizes up to ``D_max / r`` and forecasts ``D_max`` (the largest size in the budget), so choosing settings by
back-tests never looks at the full-size column.

Example:
    >>> import pandas as pd
    >>> sizes = [200 * 2**i for i in range(8)]
    >>> curves = pd.DataFrame([[5.0 * (1 + i / 10) * s ** -0.2 for s in sizes] for i in range(5)],
    ...                       index=[f"m{i}" for i in range(5)], columns=sizes)
    >>> round(score_budget(curves, 8).pearson, 1)
    100.0
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.extrapolation import FitSettings, LearningCurveFit, fit_learning_curve

#: A forecast rule for references: (sizes, losses, target size) -> forecast loss.
Forecaster = Callable[[np.ndarray, np.ndarray, float], float]


@dataclass(frozen=True)
class BudgetScore:
    """How one method did at one budget: Pearson x100 across models, mean absolute error of the loss, and
    (for the law) the share of measured losses inside the forecast's ``level`` interval."""

    budget: int
    pearson: float
    mae: float
    coverage: float | None
    n_models: int


@dataclass(frozen=True)
class BacktestErrors:
    """Errors of in-budget back-tests: log(measured / forecast), doublings extrapolated, jackknife spread."""

    log_errors: np.ndarray
    doublings: np.ndarray
    jackknife_sd: np.ndarray
    pearson: float


def read_wide_curves(path: str | Path) -> pd.DataFrame:
    """Read a curves table with one row per model and one column per training-set size (Lin et al.'s format:
    a first column naming the model, numeric size columns, other columns such as ``size``/``family`` ignored).

    Returns a DataFrame indexed by model with integer size columns in increasing order.
    """
    frame = pd.read_csv(path)
    frame = frame.set_index(frame.columns[0])
    sizes = sorted(int(c) for c in frame.columns if str(c).isdigit())
    if len(sizes) < 3:
        raise ValueError(f"{path}: expected numeric size columns (0, 200, 400, ...), found {list(frame.columns)}")
    return frame[[str(s) for s in sizes]].set_axis(sizes, axis=1).astype(float)


def budget_sizes(curves: pd.DataFrame, budget: int, full_size: int | None = None) -> list[int]:
    """The positive sizes a budget ``1/budget`` may fit: ``0 < n <= full / budget``."""
    full = full_size or max(curves.columns)
    return [s for s in curves.columns if 0 < s <= full / budget]


def score_budget(
    curves: pd.DataFrame, budget: int, settings: FitSettings | None = None, *, full_size: int | None = None,
    level: float = 0.8, forecaster: Forecaster | None = None,
) -> BudgetScore:
    """Fit every model's curve on a budget ``1/budget`` and score the forecasts at ``full_size`` (default: the
    largest column). ``forecaster`` scores a reference rule instead of the law (no coverage then)."""
    full = full_size or max(curves.columns)
    sizes = budget_sizes(curves, budget, full)
    x = np.array(sizes, dtype=float)
    actual = curves[full].to_numpy(float)
    inside: list[bool] = []
    forecasts = []
    for losses, measured in zip(curves[sizes].to_numpy(float), actual, strict=True):
        if forecaster is not None:
            forecasts.append(forecaster(x, losses, full))
            continue
        fit = fit_learning_curve(x, losses, settings)
        forecasts.append(fit.predict(full))
        low, high = fit.interval(full, level)
        inside.append(low <= measured <= high)
    predicted = np.array(forecasts)
    return BudgetScore(
        budget=budget, pearson=_pearson(predicted, actual), mae=float(np.mean(np.abs(predicted - actual))),
        coverage=float(np.mean(inside)) if inside else None, n_models=len(actual),
    )


def backtest(
    curves: pd.DataFrame, budget: int, settings: FitSettings | None = None, *, ratios: Sequence[int] = (2, 4, 8),
    full_size: int | None = None, jackknife: bool = False,
) -> BacktestErrors:
    """In-budget back-tests: for each ``r`` fit the budget's sizes up to ``D_max / r``, forecast ``D_max``.

    Ratios that leave fewer than two sizes are skipped. ``pearson`` is the mean over ratios of the Pearson
    correlation (x100) across models; the errors are pooled over ratios and models.
    """
    sizes = np.array(budget_sizes(curves, budget, full_size), dtype=float)
    d_max = sizes.max()
    table = curves[[int(s) for s in sizes]].to_numpy(float)
    errors, doublings, spreads, pearsons = [], [], [], []
    for r in ratios:
        keep = sizes <= d_max / r
        if keep.sum() < 2:
            continue
        fits: list[LearningCurveFit] = [fit_learning_curve(sizes[keep], row[keep], settings, jackknife=jackknife)
                                        for row in table]
        predicted = np.array([f.predict(d_max) for f in fits])
        measured = table[:, -1]
        pearsons.append(_pearson(predicted, measured))
        errors.extend(np.log(measured / predicted))
        doublings.extend([math.log2(d_max / sizes[keep].max())] * len(fits))
        no_extrapolation = FitSettings(**{**_as_dict(settings), "error_per_doubling": 0.0})
        spreads.extend(_with_settings(f, no_extrapolation).sd_log(d_max) for f in fits)
    if not pearsons:
        raise ValueError(f"budget 1/{budget} leaves too few sizes for a back-test")
    return BacktestErrors(np.array(errors), np.array(doublings), np.array(spreads), float(np.mean(pearsons)))


def calibrate_error_per_doubling(backtests: Sequence[BacktestErrors], level: float = 0.8) -> float:
    """The ``error_per_doubling`` whose intervals cover ``level`` of the pooled back-test errors.

    Coverage grows with it, so a bisection finds it (0 if the jackknife alone already covers enough).
    """
    from scipy.stats import norm

    errors = np.concatenate([b.log_errors for b in backtests])
    doublings = np.concatenate([b.doublings for b in backtests])
    spreads = np.concatenate([b.jackknife_sd for b in backtests])
    z = float(norm.ppf(0.5 + level / 2))

    def coverage(c: float) -> float:
        return float(np.mean(np.abs(errors) <= z * np.sqrt(spreads**2 + (c * doublings) ** 2)))

    low, high = 0.0, 1.0
    if coverage(low) >= level:
        return 0.0
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if coverage(mid) < level else (low, mid)
    return high


def last_observed(sizes: np.ndarray, losses: np.ndarray, target: float) -> float:
    """Reference: the loss at the largest size fitted (Lin et al.'s "SubTuning")."""
    return float(losses[np.argmax(sizes)])


def power_law_through_last_two(sizes: np.ndarray, losses: np.ndarray, target: float) -> float:
    """Reference: a plain power law (a line in log-log) through the two largest sizes."""
    order = np.argsort(sizes)[-2:]
    lx, ly = np.log(sizes[order]), np.log(losses[order])
    slope = (ly[1] - ly[0]) / (lx[1] - lx[0])
    return float(np.exp(ly[1] + slope * (math.log(target) - lx[1])))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(100 * np.corrcoef(a, b)[0, 1])


def _as_dict(settings: FitSettings | None) -> dict:
    from dataclasses import asdict

    return asdict(settings or FitSettings())


def _with_settings(fit: LearningCurveFit, settings: FitSettings) -> LearningCurveFit:
    from dataclasses import replace

    return replace(fit, settings=settings)

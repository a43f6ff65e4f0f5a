"""Learning-curve extrapolation: the rectified fine-tuning scaling law, fitted robustly, with intervals.

The law (Lin et al., 2024, "Selecting Large Language Model to Fine-tune via Rectified Scaling Law") says the
held-out loss after fine-tuning on ``D`` examples is ``L(D) = B / (D_l + D**beta) + E``: flat while ``D**beta``
is small next to the "pre-learned data size" ``D_l``, a power law with exponent ``beta`` after it, and the floor
``E`` in the end. Four free parameters fitted to a handful of sizes extrapolate badly (measured on the paper's
public curves, ``benchmarks/extrapolation_bench.py``: a free fit reaches a Pearson correlation of 28 on FLAN at
a 1/64 budget, against 65 for a straight line through the last two sizes), so the fit is anchored:

- **recency weights**: a size ``k`` doublings below the largest one weighs ``exp(-k / recency)``, so the
  smallest sizes (pre-power phase, and the noisiest relative to the target) do not dominate;
- **floor shrinkage**: ``E`` is pulled towards 0 (its data rarely tell it), ``0 <= E < min(loss)``;
- **slope anchor**: ``beta`` is pulled towards the log-log slope between the two largest sizes, so the curve
  keeps bending only where the data insist;
- bounded parameters and a global search: a grid over ``(beta, log D_l)`` with ``(B, E)`` solved in closed form
  at every cell (every cell is a start), refined by a bounded Nelder-Mead from each of its best cells.

The defaults were chosen on back-tests inside each budget (fit the sizes up to ``D_max / r``, predict
``D_max``) and never looked at the full-size column; the benchmark reprints that selection and a hold-one-
dataset-out check. The interval is Gaussian in log-loss with standard deviation
``sqrt(jackknife**2 + (error_per_doubling * doublings)**2)``: the spread of refits that each leave one of the
heaviest sizes out, plus an extrapolation error that grows with the number of doublings beyond the largest
size, calibrated on the same back-tests.

A size of 0 means the zero-shot loss. It is left out by default (``use_zero_shot=False``): on the public curves
an encoder-decoder's loss before fine-tuning (up to 29 nats) says nothing about its curve. With
``use_zero_shot=True`` it weighs as the smallest positive size, which under the recency weights is next to
nothing unless the curve has only two or three sizes.

Example:
    >>> fit = fit_learning_curve([100, 200, 400, 800], [2.0, 1.7, 1.45, 1.25])
    >>> round(fit.predict(6400), 1)
    0.8
    >>> low, high = fit.interval(6400)
    >>> low < fit.predict(6400) < high
    True
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Grid of the global search (every cell is a start); beta's bounds are the law's plausible range.
_BETAS = np.linspace(0.005, 1.5, 120)
_LOG_DL = np.linspace(-6.0, 16.0, 45)
_BETA_BOUNDS = (0.005, 1.5)
_LOG_DL_BOUNDS = (-8.0, 20.0)
#: Coarse cells a local search starts from.
_STARTS = 2
#: Sizes whose weight is below this share of the largest one do not take part in the jackknife.
_JACKKNIFE_MIN_WEIGHT = 0.05


class CurveFitError(ValueError):
    """A learning curve that cannot be fitted (too few sizes, non-positive losses, bad values ...)."""


@dataclass(frozen=True)
class FitSettings:
    """How :func:`fit_learning_curve` weighs the data and its priors (defaults: chosen by back-tests).

    ``recency``: e-folding length of the point weights, in doublings below the largest size.
    ``floor_shrinkage``: ridge weight on ``E / min(loss)``. ``slope_anchor``: ridge weight on ``beta`` minus
    the slope between the two largest sizes. Both are on the scale of the weighted mean squared log residual.
    ``use_zero_shot``: fit the size-0 (zero-shot) loss too, weighted as the smallest positive size.
    ``error_per_doubling``: log-loss standard deviation added per doubling of extrapolation (calibrated for
    80% coverage on the back-tests of the public curves, see the benchmark).

    Example:
        >>> FitSettings().recency
        0.5
    """

    recency: float = 0.5
    floor_shrinkage: float = 1e-3
    slope_anchor: float = 0.01
    use_zero_shot: bool = False
    error_per_doubling: float = 0.0174

    def __post_init__(self) -> None:
        if not self.recency > 0:
            raise CurveFitError(f"recency must be positive (doublings), got {self.recency!r}")
        for name in ("floor_shrinkage", "slope_anchor", "error_per_doubling"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise CurveFitError(f"{name} must be a non-negative number, got {value!r}")


@dataclass(frozen=True)
class RectifiedLaw:
    """``L(D) = B / (D_l + (D / scale)**beta) + E``; sizes are in units of ``scale`` (the smallest size fitted).

    Example:
        >>> law = RectifiedLaw(B=2.0, D_l=1.0, beta=0.5, E=0.1, scale=100.0)
        >>> round(law.loss(0), 3), round(law.loss(100), 3)
        (2.1, 1.1)
    """

    B: float
    D_l: float
    beta: float
    E: float
    scale: float = 1.0

    def loss(self, size: float | np.ndarray) -> Any:
        """The law's loss at ``size`` examples (a float, or an array for an array)."""
        d = np.asarray(size, dtype=float) / self.scale
        value = self.E + self.B / (self.D_l + np.power(d, self.beta))
        return float(value) if np.ndim(value) == 0 else value

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class LearningCurveFit:
    """A fitted learning curve: the law, the data it saw and how far to trust an extrapolation.

    ``jackknife_laws`` are the refits that each left one heavily weighted size out (empty with two sizes).
    """

    law: RectifiedLaw
    sizes: tuple[float, ...]
    losses: tuple[float, ...]
    weights: tuple[float, ...]
    settings: FitSettings
    jackknife_laws: tuple[RectifiedLaw, ...] = field(default=())

    @property
    def largest_size(self) -> float:
        return max(self.sizes)

    def predict(self, size: float) -> float:
        """The forecast loss at ``size`` examples."""
        return float(self.law.loss(_positive_size(size)))

    def sd_log(self, size: float) -> float:
        """Standard deviation of the log-loss forecast at ``size`` (jackknife spread + extrapolation error)."""
        size = _positive_size(size)
        doublings = max(0.0, math.log2(size / self.largest_size))
        spread = 0.0
        if len(self.jackknife_laws) >= 2:
            logs = np.log([max(law.loss(size), 1e-12) for law in self.jackknife_laws])
            m = len(logs)
            spread = float(math.sqrt((m - 1) / m * np.sum((logs - logs.mean()) ** 2)))
        return math.sqrt(spread**2 + (self.settings.error_per_doubling * doublings) ** 2)

    def interval(self, size: float, level: float = 0.8) -> tuple[float, float]:
        """The central ``level`` interval of the loss at ``size`` (Gaussian in log-loss)."""
        z = _z(level)
        centre = math.log(self.predict(size))
        sd = self.sd_log(size)
        return math.exp(centre - z * sd), math.exp(centre + z * sd)


@dataclass(frozen=True)
class LossForecast:
    """One model's extrapolated loss at ``target_size``, with its central ``level`` interval."""

    model: str
    target_size: float
    predicted_loss: float
    low: float
    high: float
    level: float
    sd_log: float
    n_sizes: int
    largest_size: float
    law: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_learning_curve(
    sizes: Sequence[float], losses: Sequence[float], settings: FitSettings | None = None, *, jackknife: bool = True
) -> LearningCurveFit:
    """Fit the rectified scaling law to one model's (training-set size, held-out loss) points.

    ``sizes`` are numbers of training examples (0 = zero-shot, used only with ``settings.use_zero_shot``);
    repeated sizes are averaged (geometric mean). Needs at least two distinct positive sizes and positive,
    finite losses; raises :class:`CurveFitError` otherwise. ``jackknife=False`` skips the leave-one-size-out
    refits (faster; the interval then holds the extrapolation term only).

    Example:
        >>> fit = fit_learning_curve([200, 400, 800, 1600], [3.0, 2.6, 2.3, 2.05])
        >>> 1.0 < fit.predict(25_600) < 2.05
        True
    """
    settings = settings or FitSettings()
    x, y = _clean(sizes, losses, settings.use_zero_shot)
    weights = _weights(x, settings.recency)
    law = _fit(x, y, weights, settings)
    refits: list[RectifiedLaw] = []
    heavy = [i for i in range(len(x)) if weights[i] >= _JACKKNIFE_MIN_WEIGHT * weights.max()]
    if jackknife and len(x) >= 3:
        for i in heavy:
            keep = np.arange(len(x)) != i
            if np.count_nonzero(x[keep] > 0) >= 2:
                refits.append(_fit(x[keep], y[keep], _weights(x[keep], settings.recency), settings))
    return LearningCurveFit(law, tuple(map(float, x)), tuple(map(float, y)), tuple(map(float, weights)),
                            settings, tuple(refits))


def extrapolate(
    curves: Any, target_size: float, *, settings: FitSettings | None = None, level: float = 0.8
) -> list[LossForecast]:
    """Fit each model's curve and forecast its loss at ``target_size`` examples, in the models' order.

    ``curves``: a DataFrame with columns ``model, n_examples, loss`` (see :func:`read_curves`), or a mapping
    ``{model: [(n_examples, loss), ...]}``.

    Example:
        >>> rows = extrapolate({"a": [(100, 2.0), (200, 1.8), (400, 1.6)],
        ...                     "b": [(100, 2.2), (200, 1.8), (400, 1.5)]}, target_size=3200)
        >>> [r.model for r in sorted(rows, key=lambda r: r.predicted_loss)]
        ['b', 'a']
    """
    target = _positive_size(target_size, what="target size")
    _z(level)  # a bad level fails before any fitting
    out = []
    for model, points in _grouped(curves).items():
        sizes, losses = zip(*points)
        try:
            fit = fit_learning_curve(sizes, losses, settings)
        except CurveFitError as exc:
            raise CurveFitError(f"model {model!r}: {exc}") from None
        low, high = fit.interval(target, level)
        out.append(LossForecast(
            model=model, target_size=target, predicted_loss=fit.predict(target), low=low, high=high,
            level=level, sd_log=fit.sd_log(target), n_sizes=sum(1 for s in fit.sizes if s > 0),
            largest_size=fit.largest_size, law=fit.law.to_dict(),
        ))
    return out


def read_curves(path: str | Path) -> Any:
    """Read a curves CSV (columns ``model, n_examples, loss``; one row per measured point) as a DataFrame.

    Raises :class:`CurveFitError` for a missing column, a non-numeric or negative ``n_examples`` or a
    non-positive or non-numeric ``loss``, naming the first bad row; :class:`OSError` for an unreadable file.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such curves file")
    try:
        frame = pd.read_csv(path, dtype={"model": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CurveFitError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in ("model", "n_examples", "loss") if c not in frame.columns]
    if missing:
        raise CurveFitError(f"{path}: missing column(s) {', '.join(missing)}; expected model,n_examples,loss "
                            f"(found {', '.join(frame.columns) or 'none'})")
    if frame.empty:
        raise CurveFitError(f"{path}: no rows")
    for column in ("n_examples", "loss"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.fillna(0))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise CurveFitError(f"{path}: row {row + 2}: {column} {frame[column].iloc[row]!r} is not a number")
        frame[column] = values.astype(float)
    if frame["model"].isna().any() or (frame["model"].str.strip() == "").any():
        row = int(np.flatnonzero((frame["model"].isna() | (frame["model"].fillna("").str.strip() == "")).to_numpy())[0])
        raise CurveFitError(f"{path}: row {row + 2}: empty model name")
    frame["model"] = frame["model"].str.strip()
    return frame[["model", "n_examples", "loss"]]


# ---------------------------------------------------------------------------------------------- internals
def _z(level: float) -> float:
    from scipy.stats import norm

    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise CurveFitError(f"interval level must be in (0, 1), got {level!r}")
    return float(norm.ppf(0.5 + level / 2))


def _positive_size(size: float, what: str = "size") -> float:
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)) \
            or not math.isfinite(size) or size <= 0:
        raise CurveFitError(f"{what} must be a positive number of examples, got {size!r}")
    return float(size)


def _grouped(curves: Any) -> dict[str, list[tuple[float, float]]]:
    if isinstance(curves, Mapping):
        grouped = {str(model): [(float(s), float(v)) for s, v in points] for model, points in curves.items()}
    else:
        grouped = {}
        for model, size, loss in zip(curves["model"], curves["n_examples"], curves["loss"], strict=True):
            grouped.setdefault(str(model), []).append((float(size), float(loss)))
    if not grouped:
        raise CurveFitError("no learning curves given")
    for model, points in grouped.items():
        if not points:
            raise CurveFitError(f"model {model!r}: no points")
    return grouped


def _clean(sizes: Iterable[float], losses: Iterable[float], use_zero_shot: bool) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(list(sizes), dtype=float)
    y = np.asarray(list(losses), dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise CurveFitError(f"sizes and losses must be two lists of equal length, got {x.shape} and {y.shape}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise CurveFitError(f"sizes must be finite and non-negative, got {x.tolist()}")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        bad = float(y[~np.isfinite(y) | (y <= 0)][0])
        raise CurveFitError(f"losses must be positive and finite (a held-out cross-entropy), got {bad:g}")
    if not use_zero_shot:
        keep = x > 0
        x, y = x[keep], y[keep]
    unique = np.unique(x)
    if np.count_nonzero(unique > 0) < 2:
        raise CurveFitError(
            f"a learning curve needs losses at two or more distinct positive sizes, got {np.count_nonzero(unique > 0)}"
        )
    log_means = np.array([np.log(y[x == size]).mean() for size in unique])  # repeated sizes: geometric mean
    return unique, np.exp(log_means)


def _weights(x: np.ndarray, recency: float) -> np.ndarray:
    positive = x[x > 0]
    doublings_below = np.log2(positive.max() / np.where(x > 0, x, positive.min()))
    return np.exp(-doublings_below / recency)


def _tail_slope(x: np.ndarray, y: np.ndarray) -> float:
    positive = x > 0
    xs, ys = x[positive][-2:], y[positive][-2:]
    slope = -(math.log(ys[1]) - math.log(ys[0])) / (math.log(xs[1]) - math.log(xs[0]))
    return min(max(slope, _BETA_BOUNDS[0]), _BETA_BOUNDS[1])


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, settings: FitSettings) -> RectifiedLaw:
    """Global search: a coarse grid over (beta, log D_l), then a bounded Nelder-Mead from each of its best
    cells over the same profiled objective ((B, E) solved in closed form at every point)."""
    from scipy.optimize import minimize

    scale = float(x[x > 0].min())
    d = x / scale
    w = weights / weights.sum()
    anchor = _tail_slope(x, y)
    objective, _, _ = _grid_objective(d, y, w, anchor, settings, _BETAS, _LOG_DL)

    profiled = _ProfiledObjective(d, y, w, anchor, settings)
    best_theta, best_value = None, math.inf
    for index in np.argsort(objective, axis=None)[:_STARTS]:
        i, j = np.unravel_index(int(index), objective.shape)
        start = np.array([_BETAS[i], _LOG_DL[j]])
        solution = minimize(profiled, start, method="Nelder-Mead", bounds=[_BETA_BOUNDS, _LOG_DL_BOUNDS],
                            options={"xatol": 1e-5, "fatol": 1e-15, "maxfev": 300})
        theta, value = (solution.x, float(solution.fun)) if solution.fun <= objective[i, j] else (start, objective[i, j])
        if value < best_value:
            best_theta, best_value = theta, value
    assert best_theta is not None
    _, e, b = profiled.solve(best_theta)
    return RectifiedLaw(B=b, D_l=float(np.exp(best_theta[1])), beta=float(best_theta[0]), E=e, scale=scale)


class _ProfiledObjective:
    """The cell objective of :func:`_grid_objective` at one (beta, log D_l), on plain 1-D arrays (the local
    search calls it a few hundred times per start, where broadcasting overhead would dominate)."""

    def __init__(self, d: np.ndarray, y: np.ndarray, w: np.ndarray, anchor: float, settings: FitSettings) -> None:
        self.d, self.y, self.anchor, self.settings = d, y, anchor, settings
        self.sw = np.sqrt(w) / y
        self.y_min = float(y.min())
        self.e_max = 0.999 * self.y_min
        self.target = self.sw * y
        self.s11 = float(self.sw @ self.sw) + settings.floor_shrinkage / self.y_min**2
        self.t1 = float(self.sw @ self.target)

    def solve(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(objective, E, B) at ``theta = (beta, log D_l)``."""
        beta, log_dl = float(theta[0]), float(theta[1])
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            g = 1.0 / (math.exp(min(log_dl, 700.0)) + np.power(self.d, beta))
            a2 = self.sw * g
            s12, s22, t2 = float(a2 @ self.sw), float(a2 @ a2), float(a2 @ self.target)
            det = self.s11 * s22 - s12**2
            e = (s22 * self.t1 - s12 * t2) / det if det > 0 else math.nan
            b = (self.s11 * t2 - s12 * self.t1) / det if det > 0 else math.nan
            if not (math.isfinite(e) and math.isfinite(b) and 0 <= e <= self.e_max and b >= 0):
                e = min(max(e if math.isfinite(e) else 0.0, 0.0), self.e_max)
                b = max(float((self.target - e * self.sw) @ a2) / s22, 0.0) if s22 > 0 else 0.0
            residual = self.sw * (e + b * g) - self.target
            value = float(residual @ residual) + self.settings.floor_shrinkage * (e / self.y_min) ** 2 \
                + self.settings.slope_anchor * (beta - self.anchor) ** 2
        return (value if math.isfinite(value) else math.inf), e, b

    def __call__(self, theta: np.ndarray) -> float:
        return self.solve(theta)[0]


def _grid_objective(d: np.ndarray, y: np.ndarray, w: np.ndarray, anchor: float, settings: FitSettings,
                    betas: np.ndarray, log_dls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Penalized objective, E and B at every (beta, log D_l) cell; (B, E) solved in closed form per cell.

    Residuals are relative, ``(pred - y) / y`` (close to log residuals), which makes the law linear in
    (E, B): a 2x2 weighted least-squares problem per cell, clamped to ``0 <= E <= 0.999 min(y)``, ``B >= 0``.
    """
    y_min = float(y.min())
    e_max = 0.999 * y_min
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        g = 1.0 / (np.exp(log_dls)[None, :, None] + np.power(d[None, None, :], betas[:, None, None]))
        sw = np.sqrt(w) / y
        a1, a2, target = sw, sw * g, sw * y
        s11 = float(a1 @ a1) + settings.floor_shrinkage / y_min**2
        s12 = (a2 * a1).sum(-1)
        s22 = (a2 * a2).sum(-1)
        t1 = float(a1 @ target)
        t2 = (a2 * target).sum(-1)
        det = s11 * s22 - s12**2
        e = (s22 * t1 - s12 * t2) / det
        b = (s11 * t2 - s12 * t1) / det
        bad = ~np.isfinite(e) | ~np.isfinite(b) | (e < 0) | (e > e_max) | (b < 0)
        e_clamped = np.clip(np.nan_to_num(e), 0.0, e_max)
        b_clamped = np.maximum(((target - e_clamped[..., None] * a1) * a2).sum(-1) / s22, 0.0)
        e = np.where(bad, e_clamped, e)
        b = np.where(bad, b_clamped, b)
        residual = sw * (e[..., None] + b[..., None] * g - y)
        objective = (residual**2).sum(-1) + settings.floor_shrinkage * (e / y_min) ** 2 \
            + settings.slope_anchor * ((betas - anchor) ** 2)[:, None]
    return np.where(np.isfinite(objective), objective, np.inf), e, b

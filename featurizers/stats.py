"""Streaming summary statistics with 95% confidence intervals, in bounded memory.

:class:`MomentAccumulator` keeps the count and the first four power sums (about a shift, for numerical
stability), enough for the mean, the standard deviation and their analytic intervals.
:class:`IntegerHistogram` keeps exact counts of non-negative integers (token counts), enough for an
exact percentile and a distribution-free interval from order statistics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


@dataclass
class MomentAccumulator:
    """Count, mean, population standard deviation (ddof=0) and 4th central moment of a stream; NaNs skipped.

    Example:
        >>> acc = MomentAccumulator(); acc.update(np.array([1.0, 2.0, 3.0, np.nan]))
        >>> acc.n, acc.mean, round(acc.std, 6)
        (3, 2.0, 0.816497)
    """

    n: int = 0
    shift: float | None = None
    sums: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def update(self, values: np.ndarray) -> None:
        x = np.asarray(values, dtype=np.float64)
        x = x[~np.isnan(x)]
        if not x.size:
            return
        if self.shift is None:
            self.shift = float(x[0])
        d = x - self.shift
        d2 = d * d
        self.sums += (d.sum(), d2.sum(), (d2 * d).sum(), (d2 * d2).sum())
        self.n += int(x.size)

    def _raw(self) -> tuple[float, float, float, float]:
        e1, e2, e3, e4 = (self.sums / self.n).tolist()
        return e1, e2, e3, e4

    @property
    def mean(self) -> float:
        return math.nan if not self.n else float(self.shift + self.sums[0] / self.n)

    @property
    def var(self) -> float:
        if not self.n:
            return math.nan
        e1, e2, _, _ = self._raw()
        return max(e2 - e1 * e1, 0.0)

    @property
    def std(self) -> float:
        return math.sqrt(self.var) if self.n else math.nan

    @property
    def m4(self) -> float:
        e1, e2, e3, e4 = self._raw()
        return max(e4 - 4 * e1 * e3 + 6 * e1 * e1 * e2 - 3 * e1**4, 0.0)

    def mean_interval(self, population: int | None) -> tuple[float, float]:
        """Normal-approximation 95% interval of the mean, with the finite-population correction."""
        if self.n < 2:
            return (math.nan, math.nan)
        s = math.sqrt(self.var * self.n / (self.n - 1))
        half = Z95 * s / math.sqrt(self.n) * _fpc(self.n, population)
        return (self.mean - half, self.mean + half)

    def std_interval(self, population: int | None) -> tuple[float, float]:
        """Delta-method 95% interval of the standard deviation: Var(s²) ≈ (μ4 − σ⁴(n−3)/(n−1)) / n."""
        if self.n < 2:
            return (math.nan, math.nan)
        var, sd = self.var, self.std
        if sd == 0:
            return (0.0, 0.0)
        var_s2 = max(self.m4 - var * var * (self.n - 3) / (self.n - 1), 0.0) / self.n
        half = Z95 * math.sqrt(var_s2) / (2 * sd) * _fpc(self.n, population)
        return (max(sd - half, 0.0), sd + half)


def _fpc(n: int, population: int | None) -> float:
    """Finite-population correction: 1 for an unknown population, 0 when the sample is all of it."""
    if not population:
        return 1.0
    if population <= n:
        return 0.0
    return math.sqrt((population - n) / (population - 1))


@dataclass
class IntegerHistogram:
    """Exact counts of non-negative integers, for percentiles equal to ``np.percentile(values, q)`` (linear).

    Example:
        >>> h = IntegerHistogram(); h.update(np.arange(1, 101))
        >>> h.percentile(95)
        95.05
    """

    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def update(self, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.int64)
        if not v.size:
            return
        if v.min() < 0:
            raise ValueError("IntegerHistogram takes non-negative integers")
        b = np.bincount(v)
        if b.size > self.counts.size:
            b[: self.counts.size] += self.counts
            self.counts = b
        else:
            self.counts[: b.size] += b

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def value_at_rank(self, rank: int) -> float:
        """The value at 0-based ``rank`` of the sorted data."""
        return float(np.searchsorted(np.cumsum(self.counts), rank, side="right"))

    def percentile(self, q: float) -> float:
        n = self.n
        if not n:
            return math.nan
        h = (n - 1) * q / 100.0
        lo, hi = math.floor(h), math.ceil(h)
        a, b = self.value_at_rank(lo), self.value_at_rank(hi)
        return a + (h - lo) * (b - a)

    def percentile_interval(self, q: float) -> tuple[float, float]:
        """Distribution-free 95% interval from order statistics (binomial normal approximation)."""
        n = self.n
        if n < 2:
            return (math.nan, math.nan)
        p = q / 100.0
        center, half = (n - 1) * p, Z95 * math.sqrt(n * p * (1 - p))
        lo = max(0, math.floor(center - half))
        hi = min(n - 1, math.ceil(center + half))
        return (self.value_at_rank(lo), self.value_at_rank(hi))

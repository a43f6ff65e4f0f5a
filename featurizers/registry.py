"""The registry of heuristics: each public heuristic is one small function registered by name.

Two kinds:

* :class:`Measure` - a per-example quantity (e.g. input tokens), computed on every profiled example in
  batches and published as summary statistics (``input_tokens_mean``, ``..._std``, ``..._p95``).
* :class:`Heuristic` - a quantity over a bounded sample of examples (e.g. label entropy), published
  under its own name.

Adding a heuristic is writing one function and decorating it with :func:`measure` or :func:`heuristic`.

Example:
    >>> from featurizers.registry import MEASURES, HEURISTICS
    >>> import featurizers.profiler  # noqa: F401  (imports every heuristic module)
    >>> MEASURES["input_tokens"].summaries
    ('mean', 'std', 'p95')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from featurizers.batch_features import BatchFeatures, SampleView


@dataclass(frozen=True)
class Measure:
    """A per-example quantity; ``integer`` ones get an exact p95 from a streaming histogram."""

    name: str
    fn: Callable[["BatchFeatures"], np.ndarray]
    summaries: tuple[str, ...]
    integer: bool = False
    doc: str = ""

    def public_names(self) -> list[str]:
        return [f"{self.name}_{s}" for s in self.summaries]


@dataclass(frozen=True)
class Heuristic:
    """A dataset-level quantity computed on a bounded sample; ``needs_embeddings`` ones can be skipped."""

    name: str
    fn: Callable[["SampleView"], float]
    needs_embeddings: bool = False
    doc: str = ""


#: Per-example measures by name (populated when the heuristic modules are imported).
MEASURES: dict[str, Measure] = {}
#: Dataset-level heuristics by public name.
HEURISTICS: dict[str, Heuristic] = {}


def measure(name: str, *, summaries: tuple[str, ...] = ("mean", "std"), integer: bool = False):
    """Register a per-example measure ``fn(batch) -> array`` under ``name``."""

    def register(fn: Callable[["BatchFeatures"], np.ndarray]) -> Callable[["BatchFeatures"], np.ndarray]:
        if name in MEASURES:
            raise ValueError(f"measure {name!r} registered twice")
        MEASURES[name] = Measure(name, fn, summaries, integer, (fn.__doc__ or "").strip())
        return fn

    return register


def heuristic(name: str, *, needs_embeddings: bool = False):
    """Register a dataset-level heuristic ``fn(sample) -> float`` under ``name``."""

    def register(fn: Callable[["SampleView"], float]) -> Callable[["SampleView"], float]:
        if name in HEURISTICS:
            raise ValueError(f"heuristic {name!r} registered twice")
        HEURISTICS[name] = Heuristic(name, fn, needs_embeddings, (fn.__doc__ or "").strip())
        return fn

    return register

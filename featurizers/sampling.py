"""Deterministic uniform sampling of a stream without replacement (a seeded bottom-k reservoir)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class Reservoir:
    """Keeps the ``k`` rows with the smallest seeded random keys: a uniform sample of the stream.

    The keys come from one seeded generator drawn in stream order, so the sample depends on the seed and
    the rows only, not on how the stream was cut into batches. Any prefix of :meth:`rows` (in key order) is
    itself a uniform sample, which nests the smaller samples of the dataset-level heuristics.

    Example:
        >>> r = Reservoir(2, seed=0)
        >>> r.add(pa.array(["a", "b", "c"]), pa.array(["1", "2", "3"]))
        >>> len(r.rows()[0])
        2
    """

    k: int
    seed: int = 0
    seen: int = 0
    _rng: np.random.Generator = field(init=False, repr=False)
    _keys: np.ndarray = field(init=False, repr=False)
    _prompts: pa.Array = field(init=False, repr=False)
    _completions: pa.Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("a sample needs at least one row")
        self._rng = np.random.default_rng(self.seed)
        self._keys = np.empty(0)
        self._prompts = pa.array([], pa.string())
        self._completions = pa.array([], pa.string())

    def add(self, prompts: pa.Array, completions: pa.Array) -> None:
        keys = self._rng.random(len(prompts))
        self.seen += len(prompts)
        if len(self._keys) >= self.k:
            keep = np.flatnonzero(keys < self._keys.max())
            if not keep.size:
                return
            idx = pa.array(keep)
            keys, prompts, completions = keys[keep], prompts.take(idx), completions.take(idx)
        all_keys = np.concatenate([self._keys, keys])
        all_p = pa.concat_arrays([self._prompts, prompts])
        all_c = pa.concat_arrays([self._completions, completions])
        if len(all_keys) > self.k:
            chosen = np.argpartition(all_keys, self.k - 1)[: self.k]
            idx = pa.array(chosen)
            all_keys, all_p, all_c = all_keys[chosen], all_p.take(idx), all_c.take(idx)
        self._keys, self._prompts, self._completions = all_keys, all_p, all_c

    def rows(self, limit: int | None = None) -> tuple[list[str], list[str]]:
        """The sampled (prompts, completions) in key order, the first ``limit`` of them if given."""
        order = np.argsort(self._keys, kind="stable")[:limit]
        idx = pa.array(order)
        return self._prompts.take(idx).to_pylist(), self._completions.take(idx).to_pylist()

    def __len__(self) -> int:
        return len(self._keys)

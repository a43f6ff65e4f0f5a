"""Deterministic uniform sampling of unique examples from a stream (a bottom-k sample over content keys)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class Reservoir:
    """Keeps the rows of the ``k`` smallest distinct keys: a uniform sample of the stream's unique examples.

    The keys are seeded hashes of each example's content (:func:`featurizers.dedup.example_keys`), so a
    repeated example is kept once, and the sample depends on the set of unique examples and the seed only:
    not on the rows' order, on repetitions, or on how the stream was cut into batches. Any prefix of
    :meth:`rows` (in key order) is itself a uniform sample, which nests the smaller samples of the
    dataset-level heuristics.

    Example:
        >>> from featurizers.dedup import example_keys
        >>> r = Reservoir(2)
        >>> r.add(example_keys(["a", "b", "c", "a"], ["1", "2", "3", "1"]), pa.array(["a", "b", "c", "a"]))
        >>> len(r), r.seen
        (2, 4)
    """

    k: int
    seen: int = 0
    _keys: np.ndarray = field(init=False, repr=False)
    _columns: tuple[pa.Array, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("a sample needs at least one row")
        self._keys = np.empty(0, dtype=np.uint64)
        self._columns = ()

    def add(self, keys: np.ndarray, *columns: pa.Array) -> None:
        """Offer rows (one key each, and any number of parallel Arrow columns)."""
        keys = np.asarray(keys, dtype=np.uint64)
        self.seen += len(keys)
        if not self._columns:
            self._columns = tuple(pa.array([], c.type) for c in columns)
        if len(self._keys) >= self.k:
            keep = np.flatnonzero(keys < self._keys[-1])
            if not keep.size:
                return
            idx = pa.array(keep)
            keys, columns = keys[keep], tuple(c.take(idx) for c in columns)
        all_keys = np.concatenate([self._keys, keys])
        unique, first = np.unique(all_keys, return_index=True)  # sorted; a repeated key keeps its first row
        chosen = first[: self.k]
        idx = pa.array(chosen)
        merged = tuple(pa.concat_arrays([old, new]).take(idx) for old, new in zip(self._columns, columns))
        self._keys, self._columns = unique[: self.k], merged

    def rows(self, limit: int | None = None) -> list[list[str]]:
        """The sampled columns as Python lists, in key order, the first ``limit`` rows of them if given."""
        return [c.slice(0, limit).to_pylist() for c in self._columns]

    def __len__(self) -> int:
        return len(self._keys)


#: Examples per window for the heuristics whose value depends on how many examples they see (distinct
#: shares, label entropy, the nearest-neighbour learner): read in windows of this size and averaged, they
#: stay put as a dataset grows or shrinks (beyond one window).
WINDOW = 500


def windows(n: int, size: int = WINDOW) -> list[slice]:
    """Consecutive full windows of ``size`` over ``n`` items (the remainder left out), or one window of all
    ``n`` when fewer; the sample is in random (key) order, so each window is a uniform sample.

    Example:
        >>> windows(1200, 500), windows(300, 500), windows(0)
        ([slice(0, 500, None), slice(500, 1000, None)], [slice(0, 300, None)], [])
    """
    if n <= 0:
        return []
    if n < size:
        return [slice(0, n)]
    return [slice(i, i + size) for i in range(0, n - size + 1, size)]

"""Exact duplicates: a 64-bit key per example, and the set of keys seen so far in bounded memory.

An example's key is a seeded BLAKE2b digest of what defines it: its input (the template's field values, or
the prompt) and its output. Equal examples get equal keys, so counting distinct keys counts unique examples,
and the keys double as the sample's random order (see :class:`featurizers.sampling.Reservoir`): which
examples are sampled then depends on the set of unique examples only, not on their order or repetition.

Example:
    >>> keys = example_keys(["a", "b", "a"], ["1", "2", "1"])
    >>> bool(keys[0] == keys[2]), bool(keys[0] == keys[1])
    (True, False)
    >>> seen = SeenKeys()
    >>> seen.add(keys).tolist(), seen.add(example_keys(["b", "c"], ["2", "3"])).tolist(), seen.count
    ([True, True, False], [False, True], 3)
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Separates an example's input from its output in the hashed bytes (a code point no text uses).
_UNIT = "\x1f"


def example_keys(inputs: Sequence[str], outputs: Sequence[str], seed: int = 0) -> np.ndarray:
    """A uint64 key per example: BLAKE2b-64 of input and output, keyed by ``seed`` (stable across processes)."""
    key = seed.to_bytes(8, "little", signed=True)
    digests = b"".join(
        hashlib.blake2b(f"{i}{_UNIT}{o}".encode("utf-8", "surrogatepass"), digest_size=8, key=key).digest()
        for i, o in zip(inputs, outputs)
    )
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


@dataclass
class SeenKeys:
    """A set of uint64 keys kept as a few sorted arrays (8 bytes a key), merged as they grow.

    :meth:`add` returns which keys of a batch are new: not seen in an earlier batch, and the first of their
    value within the batch. Levels of sorted arrays whose sizes at least double keep the membership test to
    a few binary searches and the merging to O(n log n) overall.
    """

    count: int = 0
    _levels: list[np.ndarray] = field(default_factory=list, repr=False)

    def add(self, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.uint64)
        mask = np.zeros(len(keys), dtype=bool)
        if not len(keys):
            return mask
        unique, first = np.unique(keys, return_index=True)
        new = np.ones(len(unique), dtype=bool)
        for level in self._levels:
            pos = np.minimum(np.searchsorted(level, unique), len(level) - 1)
            new &= level[pos] != unique
        fresh = unique[new]
        mask[first[new]] = True
        self.count += len(fresh)
        level = fresh
        while self._levels and len(self._levels[-1]) <= 2 * len(level):
            level = np.union1d(self._levels.pop(), level)
        if len(level):
            self._levels.append(level)
        return mask

"""The LRU policy of resident adapters: bounded by a count and by a memory budget; in-use adapters are pinned.

Pure bookkeeping (no tensors): which adapter holds which LoRA slot, how many bytes of weights each holds,
how many running sequences use it, and which ones to evict to make room for another. The engine applies
the decisions to the slot stacks.

Example:
    >>> cache = AdapterCache(max_adapters=2, max_bytes=1000)
    >>> cache.add("a", 400)
    (1, [])
    >>> cache.add("b", 400)
    (2, [])
    >>> cache.add("c", 400)     # "a" is least recently used and not pinned: evicted, its slot reused
    (1, ['a'])
    >>> cache.names()
    ['b', 'c']
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from training_runs.serve.errors import AdapterTooLargeError


@dataclass
class CacheEntry:
    """One resident adapter."""

    slot: int
    nbytes: int
    pins: int = 0


class AdapterCache:
    """Least-recently-used set of resident adapters, at most ``max_adapters`` and ``max_bytes`` of weights.

    Slots ``1..max_adapters`` are handed out (slot 0 is the base model). Pinned adapters (used by a running
    sequence) are never evicted; ``add`` returns ``None`` when only pinned adapters could make room, and the
    caller retries after some sequences finish.
    """

    def __init__(self, *, max_adapters: int, max_bytes: int) -> None:
        if max_adapters < 1:
            raise ValueError(f"max_adapters must be at least 1, got {max_adapters}")
        if max_bytes < 1:
            raise ValueError(f"the adapter memory budget must be positive, got {max_bytes} bytes")
        self.max_adapters = max_adapters
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._free_slots = list(range(max_adapters, 0, -1))
        self._bytes_used = 0  # kept as a running total so other threads can read it while the engine changes entries
        self.evictions = 0

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Resident adapters, least recently used first."""
        return list(self._entries)

    @property
    def bytes_used(self) -> int:
        return self._bytes_used

    def slot(self, name: str) -> int | None:
        """The slot of ``name`` (marking it most recently used), or None if it is not resident."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        self._entries.move_to_end(name)
        return entry.slot

    def pin(self, name: str) -> None:
        self._entries[name].pins += 1

    def unpin(self, name: str) -> None:
        entry = self._entries.get(name)
        if entry is not None and entry.pins > 0:
            entry.pins -= 1

    def can_take_another(self) -> bool:
        """Whether one more adapter could get a slot now (a free slot, or an unpinned one to evict)."""
        return len(self._entries) < self.max_adapters or any(e.pins == 0 for e in self._entries.values())

    def check_fits(self, name: str, nbytes: int) -> None:
        """Raise ``AdapterTooLargeError`` if ``name`` alone exceeds the budget."""
        if nbytes > self.max_bytes:
            raise AdapterTooLargeError(
                f"adapter {name!r} holds {nbytes} bytes of weights, more than the adapter memory budget of "
                f"{self.max_bytes} bytes (start the server with a larger --adapter-memory-mb)"
            )

    def add(self, name: str, nbytes: int) -> tuple[int, list[str]] | None:
        """Make ``name`` resident: return ``(slot, evicted_names)``, or None while pinned adapters block it."""
        if name in self._entries:
            return self.slot(name), []
        self.check_fits(name, nbytes)
        victims: list[str] = []
        count, used = len(self._entries), self.bytes_used
        for candidate, entry in self._entries.items():  # least recently used first
            if count < self.max_adapters and used + nbytes <= self.max_bytes:
                break
            if entry.pins == 0:
                victims.append(candidate)
                count -= 1
                used -= entry.nbytes
        if count >= self.max_adapters or used + nbytes > self.max_bytes:
            return None
        for victim in victims:
            entry = self._entries.pop(victim)
            self._free_slots.append(entry.slot)
            self._bytes_used -= entry.nbytes
        self.evictions += len(victims)
        slot = self._free_slots.pop()
        self._entries[name] = CacheEntry(slot=slot, nbytes=nbytes)
        self._bytes_used += nbytes
        return slot, victims

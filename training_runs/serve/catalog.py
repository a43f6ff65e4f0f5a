"""Which adapters on disk this server can serve: checked cheaply, and re-checked only when their files change.

``AdapterCatalog.problem(name)`` reads an adapter's config and its safetensors header (no tensors), runs
the engine's own check against the base model (layers, shapes, rank, memory budget) and remembers the
verdict under the files' *signature* (inode, size and modification time of the directory, the config and
the weights, and where their symlinks lead). Replacing any file makes the next call check again.
Failures found later, when the weights are read (NaN values, say), are remembered the same way with
``remember``, so ``GET /v1/models`` stops listing the adapter and requests for it fail at once.

Example:
    >>> catalog = AdapterCatalog(AdapterDirectory("/srv/adapters"), check=engine_check)   # doctest: +SKIP
    >>> catalog.servable()                                                                 # doctest: +SKIP
    ['gsm8k', 'sentiment']
    >>> catalog.problem("nan-weights")                                                     # doctest: +SKIP
    AdapterFormatError("adapter 'nan-weights': lora_B of ... holds NaN or infinite values ...")
"""
from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Callable

from training_runs.serve.adapters import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    AdapterDirectory,
    AdapterManifest,
    inspect_adapter,
)
from training_runs.serve.errors import AdapterFormatError, ServeError

logger = logging.getLogger(__name__)

Signature = tuple


def adapter_signature(directory: AdapterDirectory, name: str) -> Signature:
    """What changes whenever adapter ``name``'s files change: per file, its resolved path, inode, size and mtime."""
    parts = []
    for path in (directory.root / name, directory.root / name / CONFIG_FILE, directory.root / name / WEIGHTS_FILE):
        try:
            stat = os.stat(path)
            parts.append((os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns))
        except (OSError, ValueError):
            parts.append(None)
    return tuple(parts)


class AdapterCatalog:
    """The verdicts on an ``AdapterDirectory``'s adapters, one per adapter and file signature (thread-safe).

    ``check`` receives the ``AdapterManifest`` of an adapter whose files are well formed and raises
    ``ServeError`` if this server still cannot serve it (the engine checks it against the base model).
    """

    def __init__(self, directory: AdapterDirectory, check: Callable[[AdapterManifest], None] = lambda manifest: None) -> None:
        self.directory = directory
        self._check = check
        self._lock = threading.Lock()
        self._verdicts: dict[str, tuple[Signature, ServeError | None]] = {}

    def problem(self, name: str) -> ServeError | None:
        """Why adapter directory ``name`` (a resolved directory name, not a run id) cannot be served, or None.

        The error returned is a copy, safe to raise.
        """
        signature = adapter_signature(self.directory, name)
        with self._lock:
            known = self._verdicts.get(name)
        if known is not None and known[0] == signature:
            return copy.copy(known[1])
        error = self._inspect(name)
        with self._lock:
            self._verdicts[name] = (signature, error)
        if error is not None:
            logger.warning("adapter %s cannot be served: %s", name, error)
        return copy.copy(error)

    def remember(self, name: str, error: ServeError) -> None:
        """Record that ``name`` failed to load with ``error`` (until its files change)."""
        with self._lock:
            self._verdicts[name] = (adapter_signature(self.directory, name), copy.copy(error))

    def servable(self) -> list[str]:
        """The adapters on disk that pass their checks, sorted (verdicts of adapters no longer on disk are dropped)."""
        names = self.directory.names()
        with self._lock:
            for gone in set(self._verdicts) - set(names):
                del self._verdicts[gone]
        return [name for name in names if self.problem(name) is None]

    def _inspect(self, name: str) -> ServeError | None:
        try:
            manifest = inspect_adapter(self.directory.root / name, name=name, root=self.directory.root)
            self._check(manifest)
        except ServeError as exc:
            exc.param = exc.param or "model"
            return copy.copy(exc)  # a copy holds no traceback, so no frames (or file bytes) stay alive
        except Exception as exc:  # anything else reading a hostile directory is still the adapter's problem
            return AdapterFormatError(f"adapter {name!r} cannot be read: {type(exc).__name__}: {exc}", param="model")
        return None

"""Default locations of the runner's files, configurable by ``ADVISOR_DATA_DIR``.

Example:
    >>> import os; os.environ["ADVISOR_DATA_DIR"] = "/tmp/advisor-data"
    >>> str(data_dir())
    '/tmp/advisor-data'
"""
from __future__ import annotations

import os
from pathlib import Path

from training_runs.qlora.errors import QLoRAError


def data_dir() -> Path:
    """``$ADVISOR_DATA_DIR`` if set, else the per-user data directory of finetune-advisor."""
    configured = os.environ.get("ADVISOR_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("finetune-advisor"))


def default_runs_root() -> Path:
    """Where run checkpoints go unless an output directory is given: ``<data dir>/runs``."""
    return data_dir() / "runs"


def check_writable_dir(path: str | os.PathLike[str], what: str, option: str) -> Path:
    """Raise :class:`QLoRAError` unless ``path`` is, or can be created as, a writable directory.

    Nothing is created: the nearest existing ancestor must be a writable directory (so a file in the
    way, or a read-only place, is reported before any work rather than when the first file is written).

    Example:
        >>> check_writable_dir("/etc/passwd/adapters", "the adapters directory", "--adapters-dir")
        Traceback (most recent call last):
        ...
        training_runs.qlora.errors.QLoRAError: the adapters directory /etc/passwd/adapters cannot be created: /etc/passwd is a file, not a directory; point --adapters-dir at a directory
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise QLoRAError(f"{what} {path} is a file, not a directory; point {option} at a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise QLoRAError(f"{what} {path} cannot be created: {existing} is a file, not a directory; "
                         f"point {option} at a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise QLoRAError(f"{what} {path} is not writable ({existing} is read-only); point {option} elsewhere")
    return path

"""Default locations of the runner's files, configurable by ``ADVISOR_DATA_DIR``.

Example:
    >>> import os; os.environ["ADVISOR_DATA_DIR"] = "/tmp/advisor-data"
    >>> str(data_dir())
    '/tmp/advisor-data'
"""
from __future__ import annotations

import os
from pathlib import Path


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

"""Paths and helpers shared by tests (import as ``from testsupport import ...``; tests/ is on sys.path)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
REFERENCE_TASKS = SHARED / "reference_tasks"


def require_service(what: str) -> None:
    """Skip when a service is missing locally; fail in CI, where .ci/run provides it."""
    if os.environ.get("ADVISOR_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} not available")


def model_cache_dir() -> Path:
    """Where tests keep converted real models between sessions: ``$ADVISOR_TEST_MODEL_CACHE``, else the
    user cache directory's ``finetune-advisor/test-models`` (a complete conversion is reused, see
    ``training_runs.model_zoo``)."""
    configured = os.environ.get("ADVISOR_TEST_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("finetune-advisor")) / "test-models"


def real_model_dir(name: str, *, required_in_ci: bool = True) -> Path:
    """The converted checkpoint of the packaged model ``name`` (see ``advisor models get``), made once and
    cached. When its package is not installed: skip, or fail in CI if ``required_in_ci``."""
    from training_runs.model_zoo import ModelPackageMissingError, get_model

    try:
        return get_model(name, model_cache_dir() / name).path
    except ModelPackageMissingError as exc:
        if required_in_ci:
            require_service(f"the real model {name} ({exc})")
        pytest.skip(f"the real model {name} is not installed ({exc})")


def write_pairs_csv(path: Path, header: tuple[str, str], pairs) -> Path:
    """Write ``pairs`` (an iterable of two-item rows) as a CSV file with ``header``; return the path."""
    import csv

    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(pairs)
    return path


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, read and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

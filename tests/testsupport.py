"""Paths and helpers shared by tests (import as ``from testsupport import ...``; tests/ is on sys.path)."""
from __future__ import annotations

import os
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

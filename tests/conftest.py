"""Shared fixtures. Tests never touch the user's real database: ADVISOR_DB_URL points into tmp."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
REFERENCE_TASKS = SHARED / "reference_tasks"


@pytest.fixture(autouse=True)
def _isolated_database(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    db_dir = tmp_path_factory.mktemp("advisor-db")
    monkeypatch.setenv("ADVISOR_DB_URL", f"sqlite:///{db_dir / 'advisor.db'}")
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(db_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def require_service(what: str) -> None:
    """Skip when a service is missing locally; fail in CI, where .ci/run provides it."""
    if os.environ.get("ADVISOR_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} not available")


@pytest.fixture
def reference_tasks() -> Path:
    if not REFERENCE_TASKS.is_dir():
        require_service(f"{REFERENCE_TASKS} (the shared reference tasks)")
    return REFERENCE_TASKS

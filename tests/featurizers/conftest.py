"""Fixtures for the featurizer tests."""
from __future__ import annotations

from pathlib import Path

import pytest
from featurizer_samples import ROWS, write_jsonl


@pytest.fixture
def qa_jsonl(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", ROWS)

"""The examples in the QLoRA runner's docstrings run and print what they say."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "training_runs.qlora",
    "training_runs.qlora.adapters",
    "training_runs.qlora.checkpoint",
    "training_runs.qlora.config",
    "training_runs.qlora.data",
    "training_runs.qlora.modeling",
    "training_runs.qlora.paths",
    "training_runs.qlora.runner",
    "training_runs.qlora.training",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVISOR_DATA_DIR", "/tmp/advisor-data")  # paths' example sets it; undone afterwards
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

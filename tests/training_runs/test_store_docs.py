"""The examples in the store's and the registry's docstrings run and print what they say."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "training_runs.store",
    "training_runs.store.store",
    "training_runs.store.study",
    "training_runs.store.engine",
    "training_runs.store.files",
    "training_runs.store.migrate",
    "training_runs.store.orm",
    "models.registry",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

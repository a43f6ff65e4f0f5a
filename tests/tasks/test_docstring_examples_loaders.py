"""The examples in the loaders' and the CLI entry point's docstrings run and show what they say."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["tasks.formats", "tasks.limits", "tasks.readers", "tasks.scans", "advisor.cli"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

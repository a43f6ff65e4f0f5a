"""The runnable examples in the server modules' docstrings work as written."""
from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["adapters", "cache", "protocol", "textstream", "metrics", "client", "vllm_engine"])
def test_the_docstring_examples_of_the_server_modules_run(name):
    result = doctest.testmod(importlib.import_module(f"training_runs.serve.{name}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

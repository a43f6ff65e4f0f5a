"""The examples in the featurizers' docstrings run and show what they say."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "featurizers.batch_features", "featurizers.diversity", "tasks.errors", "featurizers.labels",
    "tasks.loading", "featurizers.profiler", "featurizers.readability", "featurizers.registry",
    "featurizers.sampling", "featurizers.semantic", "featurizers.similarity", "featurizers.stats",
    "tasks.task_data", "tasks.template", "featurizers.text", "advisor.cli.data_options",
    "featurizers.contents", "featurizers.dedup", "featurizers.compressibility", "featurizers.simple_learners",
    "tasks.task_kinds", "tasks.metrics",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

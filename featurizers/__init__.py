"""Featurizers: load a task dataset and profile it with the LoRA Land complexity heuristics and more.

Example:
    >>> import featurizers
    >>> task = featurizers.load_task_dir("../shared/reference_tasks/glue_sst2")  # doctest: +SKIP
    >>> featurizers.profile(task)["example_tokens_p95"]  # doctest: +SKIP
    62.0
"""
from __future__ import annotations

from featurizers.profile_types import (
    FEATURIZER_VERSION, INVARIANT_HEURISTICS, INVARIANT_STUDY_HEURISTICS, STUDY_HEURISTICS, TaskProfile,
)
from featurizers.profiler import DEFAULT_SAMPLE, profile
from featurizers.registry import HEURISTICS, MEASURES
# The task's definition lives in `tasks`; these are re-exported so `featurizers.load_task(...)` keeps working.
from tasks import DatasetError, Example, ExampleBatch, TaskData, TaskTemplate, load_task, load_task_dir

__all__ = [
    "DEFAULT_SAMPLE", "DatasetError", "Example", "ExampleBatch", "FEATURIZER_VERSION", "HEURISTICS",
    "INVARIANT_HEURISTICS", "INVARIANT_STUDY_HEURISTICS", "MEASURES", "STUDY_HEURISTICS", "TaskData", "TaskProfile", "TaskTemplate", "load_task", "load_task_dir", "profile",
]

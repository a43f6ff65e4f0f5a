"""Featurizers: load a task dataset and profile it with the LoRA Land complexity heuristics and more.

Example:
    >>> import featurizers
    >>> task = featurizers.load_task_dir("../shared/reference_tasks/glue_sst2")  # doctest: +SKIP
    >>> featurizers.profile(task)["example_tokens_p95"]  # doctest: +SKIP
    62.0
"""
from __future__ import annotations

from featurizers.errors import DatasetError
from featurizers.loading import load_task, load_task_dir
from featurizers.profile_types import FEATURIZER_VERSION, STUDY_HEURISTICS, TaskProfile
from featurizers.profiler import DEFAULT_SAMPLE, profile
from featurizers.registry import HEURISTICS, MEASURES
from featurizers.task_data import Example, ExampleBatch, TaskData
from featurizers.template import TaskTemplate

__all__ = [
    "DEFAULT_SAMPLE", "DatasetError", "Example", "ExampleBatch", "FEATURIZER_VERSION", "HEURISTICS", "MEASURES",
    "STUDY_HEURISTICS", "TaskData", "TaskProfile", "TaskTemplate", "load_task", "load_task_dir", "profile",
]

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
from featurizers.profile_types import FEATURIZER_VERSION, TaskProfile
from featurizers.profiler import DEFAULT_SAMPLE, profile
from featurizers.registry import HEURISTICS, MEASURES
from featurizers.task_data import Example, ExampleBatch, TaskData
from featurizers.template import TaskTemplate

#: The study's heuristics (arXiv 2405.00732), in the order the study lists them.
STUDY_HEURISTICS = (
    "input_tokens_mean", "input_tokens_std", "input_tokens_p95",
    "output_tokens_mean", "output_tokens_std", "output_tokens_p95",
    "example_tokens_mean", "example_tokens_std", "example_tokens_p95",
    "io_rougeL_mean", "io_rougeL_std",
    "compressibility_mean", "compressibility_std",
    "n_examples",
)

__all__ = [
    "DEFAULT_SAMPLE", "DatasetError", "Example", "ExampleBatch", "FEATURIZER_VERSION", "HEURISTICS", "MEASURES",
    "STUDY_HEURISTICS", "TaskData", "TaskProfile", "TaskTemplate", "load_task", "load_task_dir", "profile",
]

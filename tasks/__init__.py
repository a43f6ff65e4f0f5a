"""A task's definition: where its rows come from, how a row becomes a (prompt, completion) pair, and how
a completion is scored.

Both sides of the project read tasks through this package: :mod:`featurizers` profiles a
:class:`TaskData`, and :mod:`training_runs` fine-tunes on it and scores generations with its metric.

- :func:`load_task` / :func:`load_task_dir` -> :class:`TaskData` (streamed from CSV, TSV, JSONL, JSON,
  Parquet, the text formats gzip-compressed, standard input, a DataFrame, an Arrow table, a list of dicts, a
  Hugging Face dataset, or a task folder with ``metadata.yaml``);
- :class:`ReadLimits`: how big one row and how deep its JSON may be (hostile files are refused, naming the
  line, before a parser sees them);
- :class:`TaskTemplate`: a prompt template with ``{column}`` fields, as in the study's ``metadata.yaml``;
- :mod:`tasks.metrics`: the task metrics, registered by name (:func:`get_metric`, :func:`infer_metric`);
- :class:`DatasetError`: the one error a user can fix by fixing the data.

Example:
    >>> import pandas as pd
    >>> from tasks import load_task
    >>> load_task(pd.DataFrame({"prompt": ["2+2="], "completion": ["4"]})).head(1)
    [Example(prompt='2+2=', completion='4')]
"""
from __future__ import annotations

from tasks.errors import DatasetError
from tasks.limits import ReadLimits
from tasks.loading import load_task, load_task_dir
from tasks.metrics import Metric, get_metric, infer_metric
from tasks.task_data import Example, ExampleBatch, TaskData
from tasks.template import TaskTemplate

__all__ = [
    "DatasetError", "Example", "ExampleBatch", "Metric", "ReadLimits", "TaskData", "TaskTemplate", "get_metric",
    "infer_metric", "load_task", "load_task_dir",
]

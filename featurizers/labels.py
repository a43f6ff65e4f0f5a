"""Output-side heuristics beyond the study: cardinality, label entropy, numeric and copied outputs, task kind.

The task kind (``TaskProfile.task_type``) is :func:`tasks.task_kinds.detect_task_kind` over the sample's
outputs, the inputs' varying content and the whole prompts; its vocabulary is :data:`TASK_TYPES`.
"""
from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from featurizers.batch_features import SampleView
from featurizers.registry import heuristic
from featurizers.sampling import windows
from tasks.task_kinds import TASK_KINDS, detect_task_kind

#: The task kinds a profile can record (one vocabulary, defined in :mod:`tasks.task_kinds`).
TASK_TYPES = TASK_KINDS

_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?%?$")


def is_number(text: str) -> bool:
    """Whether a (stripped) output is a number: ``3``, ``-2.5``, ``1,000``, ``.5``, ``40%``.

    Example:
        >>> [is_number(t) for t in ["3", "-2.5", "1,000", "40%", "three", ""]]
        [True, True, True, True, False, False]
    """
    return bool(text) and any(ch.isdigit() for ch in text) and bool(_NUMBER.match(text))


def _share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else math.nan


@heuristic("output_cardinality")
def output_cardinality(s: SampleView) -> float:
    """Number of distinct non-empty outputs (whitespace-stripped) in the sample."""
    return float(len(set(s.nonempty_outputs)))


def _per_window(values: list[str], fn) -> float:
    parts = windows(len(values))
    return float(np.mean([fn(values[w]) for w in parts])) if parts else math.nan


def _entropy(outputs: list[str]) -> float:
    counts = np.array(list(Counter(outputs).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


@heuristic("output_distinct_ratio")
def output_distinct_ratio(s: SampleView) -> float:
    """Distinct non-empty outputs / non-empty outputs, in windows of 500 outputs (averaged; all of them when
    fewer), so it does not fall as the dataset grows: near 0 for labels, 1 for free text."""
    return _per_window(s.nonempty_outputs, lambda w: len(set(w)) / len(w))


@heuristic("label_entropy")
def label_entropy(s: SampleView) -> float:
    """Shannon entropy (bits) of the non-empty outputs, in windows of 500 (averaged; all when fewer): 1.0 for
    two balanced labels, at most log2(500) = 9.0 for free text whatever the dataset's size."""
    return _per_window(s.nonempty_outputs, _entropy)


@heuristic("output_in_input_share")
def output_in_input_share(s: SampleView) -> float:
    """Share of non-empty outputs found verbatim (case-sensitive) in their input's varying content (the
    template's fixed text left out, so an instruction that names the labels does not count)."""
    return _share([o in p for p, o in zip(s.input_contents, s.outputs) if o])


@heuristic("numeric_output_share")
def numeric_output_share(s: SampleView) -> float:
    """Share of non-empty outputs that are a number."""
    return _share([is_number(o) for o in s.nonempty_outputs])


def detect_task_type(s: SampleView) -> str:
    """The task kind (see :mod:`tasks.task_kinds`) of a sample: its outputs, read with the inputs' varying
    content (what "copied from the input" means) and the whole prompts (where listed options are found).

    Example:
        >>> detect_task_type(SampleView(["Is 'great' good?", "Is 'bad' good?", "Is 'fine' good?"], ["yes", "no", "yes"]))
        'classification'
    """
    if "task_type" not in s.cache:
        s.cache["task_type"] = detect_task_kind(s.outputs, s.input_contents, s.prompts)
    return s.cache["task_type"]

"""Output-side heuristics beyond the study: cardinality, label entropy, numeric and copied outputs, task type."""
from __future__ import annotations

import json
import math
import re
from collections import Counter

import numpy as np

from featurizers.batch_features import SampleView
from featurizers.registry import heuristic

TASK_TYPES = ("classification", "regression", "extraction", "structured_generation", "free_generation", "code", "math")

#: At most this many distinct outputs (or at most this share of the sample) make a task a classification.
MAX_CLASSES = 50
MAX_CLASS_SHARE = 0.05
#: Short outputs (at most this many words on average) with at most this share distinct are labels too
#: (e.g. hundreds of clause types).
SHORT_LABEL_WORDS = 3
SHORT_CLASS_SHARE = 0.3
#: Share of outputs that must match a pattern for the task to get that pattern's type.
MAJORITY = 0.5
#: Share of numeric outputs that makes a task with many distinct (or fractional) outputs a regression.
NUMERIC_MAJORITY = 0.9

_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?%?$")
_CODE = re.compile(
    r"^\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|CREATE)\s|```|\bdef \w+\(|\bfunction\s*\w*\(|\breturn\b[^.]*;|"
    r"#include\s*<|\bimport \w+|\bpublic (?:static )?\w+|=>\s*\{|\bconsole\.log\(|\bprint\(",
    re.IGNORECASE,
)
_CALL_LIKE = re.compile(r"^\w+\s*\(.*\)$", re.DOTALL)
_ARITHMETIC = re.compile(r"\d\s*[-+*/×÷=]\s*\d")


def is_number(text: str) -> bool:
    """Whether a (stripped) output is a number: ``3``, ``-2.5``, ``1,000``, ``.5``, ``40%``.

    Example:
        >>> [is_number(t) for t in ["3", "-2.5", "1,000", "40%", "three", ""]]
        [True, True, True, True, False, False]
    """
    return bool(text) and any(ch.isdigit() for ch in text) and bool(_NUMBER.match(text))


def is_structured(text: str) -> bool:
    """Whether an output is structured data: a JSON/Python object or list, or a call like ``inform(name[x])``."""
    t = text.strip()
    if (t[:1], t[-1:]) in (("{", "}"), ("[", "]")):
        return True
    if _CALL_LIKE.match(t):
        return True
    try:
        return isinstance(json.loads(t), (dict, list))
    except (json.JSONDecodeError, ValueError):
        return False


def _share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else math.nan


@heuristic("output_cardinality")
def output_cardinality(s: SampleView) -> float:
    """Number of distinct non-empty outputs (whitespace-stripped) in the sample."""
    return float(len(set(s.nonempty_outputs)))


@heuristic("output_distinct_ratio")
def output_distinct_ratio(s: SampleView) -> float:
    """Distinct non-empty outputs / non-empty outputs: near 0 for labels, 1 for free text."""
    n = len(s.nonempty_outputs)
    return len(set(s.nonempty_outputs)) / n if n else math.nan


@heuristic("label_entropy")
def label_entropy(s: SampleView) -> float:
    """Shannon entropy (bits) of the distribution of non-empty outputs: 1.0 for two balanced labels."""
    counts = np.array(list(Counter(s.nonempty_outputs).values()), dtype=np.float64)
    if not counts.size:
        return math.nan
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


@heuristic("output_in_input_share")
def output_in_input_share(s: SampleView) -> float:
    """Share of non-empty outputs found verbatim (case-sensitive) in their prompt, template text included."""
    return _share([o in p for p, o in zip(s.prompts, s.outputs) if o])


@heuristic("numeric_output_share")
def numeric_output_share(s: SampleView) -> float:
    """Share of non-empty outputs that are a number."""
    return _share([is_number(o) for o in s.nonempty_outputs])


def detect_task_type(s: SampleView) -> str:
    """The task type, by rules over the sample's outputs, checked in this order:

    code (most outputs look like code or SQL); regression (nearly all outputs numbers, and either some
    fractional or more than 50 distinct); classification (at most 50 distinct outputs, or at most 5% of
    the sample distinct, or short outputs of at most 3 words with at most 30% distinct); structured generation (most outputs are objects, lists or calls); math (most
    outputs end in a number and show arithmetic); extraction (most outputs copied from the input); else
    free generation.

    Example:
        >>> detect_task_type(SampleView(["Sentiment of 'great'?", "Sentiment of 'bad'?"], ["pos", "neg"]))
        'classification'
    """
    outs = s.nonempty_outputs
    if not outs:
        return "free_generation"
    n = len(outs)
    if _share([bool(_CODE.search(o)) for o in outs]) >= MAJORITY:
        return "code"
    distinct = len(set(outs))
    numbers = [o for o in outs if is_number(o)]
    if len(numbers) >= NUMERIC_MAJORITY * n:
        fractional = _share(["." in o for o in numbers])
        if fractional >= 0.05 or distinct > MAX_CLASSES:
            return "regression"
    short = float(np.mean([len(o.split()) for o in outs])) <= SHORT_LABEL_WORDS
    if distinct <= MAX_CLASSES or distinct <= MAX_CLASS_SHARE * n or (short and distinct <= SHORT_CLASS_SHARE * n):
        return "classification"
    if _share([is_structured(o) for o in outs]) >= MAJORITY:
        return "structured_generation"
    ends_in_number = [bool(w) and w[-1].isdigit() for w in (o.split() for o in outs)]
    arithmetic = [bool(_ARITHMETIC.search(o)) for o in outs]
    if _share(ends_in_number) >= MAJORITY and _share(arithmetic) >= MAJORITY:
        return "math"
    if output_in_input_share(s) >= MAJORITY:
        return "extraction"
    return "free_generation"

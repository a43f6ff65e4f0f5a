"""Task metrics, registered by name: how a generated completion is scored against the reference.

Every metric scores one (prediction, reference) pair in [0, 1] (higher is better) and a task's score is
the mean over its examples, as in the LoRA Land study. Built-in metrics:

==================  =================================================================================
``exact_match``     normalized strings equal (case-folded, whitespace collapsed, trailing ``.`` dropped)
``binary_flex``     the study's flexible binary accuracy: the first word of each side mapped to a truth
                    value, with yes/no, true/false, 1/0 and positive/negative equivalent
``first_number``    GSM8K-style: the number after the last ``####`` (else the first number) must be equal
``rouge_l``         ROUGE-L F-measure over lower-cased alphanumeric tokens (as ``rouge-score``, no stemming)
``sts``             STS-B-like regression: ``1 - |prediction - reference| / 5``, the prediction being the
                    first number in the text clipped to [0, 5]; no number scores 0. Its mean is 1 - MAE/5
``json_match``      extraction: the first JSON (or Python-literal) object or list in the prediction parses
                    to the same value as the reference
==================  =================================================================================

The study's metric names (``tasks.csv``: ``accuracy``, ``rouge``, ``mae``, ``humaneval``; the tasks'
``metadata.yaml``: ``binary_accuracy_flex``, ``gsm8k_regex``, ``stsb``, ``mmlu_accuracy``...) are aliases
of these. ``humaneval`` (pass@1) would execute generated code against unit tests, which this project does
not do: asking for it raises :class:`UnsupportedMetricError`.

A :class:`MetricRegistry` holds metrics by name; :func:`builtin_registry` returns a fresh one with the
metrics above, so callers can register their own without touching anyone else's.

Example:
    >>> score("binary_flex", ["Yes.", "false"], ["true", "no"])
    1.0
    >>> score("rouge", ["the cat sat on the mat"], ["the cat is on a mat"])  # doctest: +ELLIPSIS
    0.666...
"""
from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import LCSseq

ExampleScorer = Callable[[str, str], float]


class UnknownMetricError(ValueError):
    """A metric name that is neither registered nor an alias."""


class UnsupportedMetricError(ValueError):
    """A metric the study used that cannot be computed here (HumanEval executes generated code)."""


@dataclass(frozen=True)
class Metric:
    """A named task metric: scores one prediction against one reference in [0, 1].

    Example:
        >>> Metric("shouty", "upper-case match", lambda p, r: float(p.upper() == r)).example("a", "A")
        1.0
    """

    name: str
    description: str
    example_scorer: ExampleScorer

    def example(self, prediction: str, reference: str) -> float:
        """Score one prediction against its reference."""
        return float(self.example_scorer(str(prediction), str(reference)))

    def examples(self, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        """Score each prediction against its reference (both lists of the same, non-zero length)."""
        predictions, references = list(predictions), list(references)
        if len(predictions) != len(references):
            raise ValueError(
                f"metric {self.name!r}: {len(predictions)} predictions but {len(references)} references"
            )
        if not predictions:
            raise ValueError(f"metric {self.name!r}: nothing to score (no predictions)")
        return [self.example(p, r) for p, r in zip(predictions, references)]

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> float:
        """The task score: the mean of the per-example scores."""
        values = self.examples(predictions, references)
        return sum(values) / len(values)


# ---------------------------------------------------------------------------------------------------
# Per-example scorers
# ---------------------------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Case-fold, collapse whitespace, strip surrounding whitespace, quotes and one trailing period."""
    text = _WHITESPACE.sub(" ", text.strip()).casefold()
    text = text.strip("\"'` ")
    return text[:-1].rstrip() if text.endswith(".") else text


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalized strings are equal.

    Example:
        >>> exact_match("  Paris. ", "paris")
        1.0
    """
    return float(normalize_text(prediction) == normalize_text(reference))


_TRUE_WORDS = frozenset({"yes", "true", "1", "positive"})
_FALSE_WORDS = frozenset({"no", "false", "0", "negative"})
_FIRST_WORD = re.compile(r"[a-z0-9]+")


def truth_value(text: str) -> bool | None:
    """The truth value of a binary answer's first word, or None if it is not one of the known words.

    Example:
        >>> truth_value("Positive, clearly"), truth_value("0"), truth_value("maybe")
        (True, False, None)
    """
    match = _FIRST_WORD.search(text.casefold())
    if match is None:
        return None
    word = match.group(0)
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def binary_flex(prediction: str, reference: str) -> float:
    """The study's flexible binary accuracy: yes/true/1/positive are one answer, no/false/0/negative the other.

    A reference that is no binary word falls back to :func:`exact_match`; a prediction that is none
    scores 0.

    Example:
        >>> binary_flex("Yes, it is.", "1"), binary_flex("negative", "true")
        (1.0, 0.0)
    """
    expected = truth_value(reference)
    if expected is None:
        return exact_match(prediction, reference)
    return float(truth_value(prediction) is expected)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _parse_number(token: str) -> float | None:
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return None


def answer_number(text: str) -> float | None:
    """The GSM8K answer in ``text``: the number after the last ``####``, else the first number.

    Example:
        >>> answer_number("48 / 2 = 24 ... #### 1,072"), answer_number("It is 3.5 apples")
        (1072.0, 3.5)
    """
    tail = text.rsplit("####", 1)[1] if "####" in text else text
    for match in _NUMBER.finditer(tail):
        value = _parse_number(match.group(0))
        if value is not None:
            return value
    return None


def first_number(prediction: str, reference: str) -> float:
    """1.0 when prediction and reference give the same answer number (see :func:`answer_number`).

    Example:
        >>> first_number("The answer is 72.", "natalia sold 48 + 24 = 72 clips #### 72")
        1.0
    """
    expected = answer_number(reference)
    if expected is None:
        raise ValueError(f"metric 'first_number': the reference {reference[:60]!r} holds no number")
    got = answer_number(prediction)
    return float(got is not None and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9))


_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")
#: Every ASCII character that is not a letter or digit becomes a space.
_ASCII_SEPARATORS = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalnum()})


def rouge_tokens(text: str) -> list[str]:
    """ROUGE tokenization as in ``rouge-score``: lower-case, split on non-alphanumerics, no stemming.

    The one tokenizer of ROUGE-L in this project: the metric here and the featurizers' input/output
    similarity both use it.

    Example:
        >>> rouge_tokens("The cat's hat, 2x!")
        ['the', 'cat', 's', 'hat', '2x']
    """
    lowered = text.lower()
    if lowered.isascii():  # the common case: a C-level translate + split, twice as fast as the regex
        return lowered.translate(_ASCII_SEPARATORS).split()
    return _ROUGE_TOKEN.findall(lowered)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    # rapidfuzz's bit-parallel LCS over the token sequences: the same number as the textbook dynamic
    # programme, hundreds of times faster on long texts (summaries, passages).
    return int(LCSseq.similarity(a, b))


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: longest common subsequence of lower-cased alphanumeric tokens.

    Tokenizes like ``rouge_score`` without stemming. Two empty texts score 0 (nothing matched).

    Example:
        >>> round(rouge_l("the cat sat on the mat", "the cat is on a mat"), 4)
        0.6667
    """
    predicted = rouge_tokens(prediction)
    expected = rouge_tokens(reference)
    if not predicted or not expected:
        return 0.0
    common = _lcs_length(predicted, expected)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def sts(prediction: str, reference: str, *, scale: float = 5.0) -> float:
    """STS-B-like: ``1 - |prediction - reference| / 5`` with the prediction clipped to [0, 5].

    The mean over examples is ``1 - MAE / 5``, the study's "mae" score. A prediction without a number
    counts as the largest possible error (score 0).

    Example:
        >>> sts("Similarity: 3.5", "4.0")
        0.9
    """
    expected = answer_number(reference)
    if expected is None:
        raise ValueError(f"metric 'sts': the reference {reference[:60]!r} holds no number")
    got = answer_number(prediction)
    if got is None:
        return 0.0
    got = min(max(got, 0.0), scale)
    return max(0.0, 1.0 - abs(got - expected) / scale)


_OPENERS = {"{": "}", "[": "]"}


def _parse_structure(text: str) -> object:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            continue
    raise ValueError("not JSON")


def first_json_value(text: str) -> object | None:
    """The first balanced ``{...}`` or ``[...]`` span of ``text`` that parses as JSON or a Python literal.

    Example:
        >>> first_json_value("Output: {'a': [1, 2]} and more")
        {'a': [1, 2]}
    """
    for start, char in enumerate(text):
        if char not in _OPENERS:
            continue
        depth, quote, escaped = 0, "", False
        for end in range(start, len(text)):
            c = text[end]
            if quote:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == quote:
                    quote = ""
            elif c in "\"'":
                quote = c
            elif c in _OPENERS:
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    try:
                        return _parse_structure(text[start : end + 1])
                    except ValueError:
                        break
    return None


def json_match(prediction: str, reference: str) -> float:
    """1.0 when the first JSON/literal structure in the prediction equals the reference's.

    Keys order and quoting style do not matter (``{'a': 1}`` equals ``{"a": 1}``). A reference that
    holds no structure is compared with :func:`exact_match`.

    Example:
        >>> json_match('Sure: {"b": [], "a": ["x"]}', "{'a': ['x'], 'b': []}")
        1.0
    """
    expected = first_json_value(reference)
    if expected is None:
        return exact_match(prediction, reference)
    return float(first_json_value(prediction) == expected)


# ---------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------

#: The study's metric names (tasks.csv and the tasks' metadata.yaml) -> the registered metric.
STUDY_ALIASES: Mapping[str, str] = {
    "accuracy": "exact_match",
    "rouge": "rouge_l",
    "rougel": "rouge_l",
    "rouge-l": "rouge_l",
    "mae": "sts",
    "stsb": "sts",
    "binary_accuracy_flex": "binary_flex",
    "gsm8k_regex": "first_number",
    "arc_accuracy": "exact_match",
    "covid_accuracy": "exact_match",
    "customer_support_accuracy": "exact_match",
    "dbpedia": "exact_match",
    "hellaswag_accuracy": "exact_match",
    "mmlu_accuracy": "exact_match",
    "mnli_accuracy": "exact_match",
    "mrpc_accuracy": "binary_flex",
    "winogrande_accuracy": "exact_match",
    "json": "json_match",
}

_UNSUPPORTED = {
    "humaneval": (
        "metric 'humaneval' (HumanEval pass@1) runs the generated code against unit tests, which this "
        "project does not do; score coding tasks with 'rouge' or 'exact_match' instead"
    ),
}


class MetricRegistry:
    """Metrics by name, plus aliases (case-insensitive).

    Example:
        >>> registry = builtin_registry()
        >>> registry.register(Metric("shouty", "upper-case match", lambda p, r: float(p.upper() == r)))
        >>> registry.get("SHOUTY").name
        'shouty'
    """

    def __init__(self, metrics: Iterable[Metric] = (), aliases: Mapping[str, str] | None = None) -> None:
        self._metrics: dict[str, Metric] = {}
        self._aliases: dict[str, str] = {}
        for metric in metrics:
            self.register(metric)
        for alias, target in (aliases or {}).items():
            self.alias(alias, target)

    def register(self, metric: Metric) -> None:
        """Add ``metric`` under its name; a name already taken raises ValueError."""
        key = metric.name.casefold()
        if key in self._metrics or key in self._aliases:
            raise ValueError(f"a metric named {metric.name!r} is already registered")
        self._metrics[key] = metric

    def alias(self, alias: str, target: str) -> None:
        """Make ``alias`` another name of the registered metric ``target``."""
        if target.casefold() not in self._metrics:
            raise UnknownMetricError(f"cannot alias {alias!r} to unknown metric {target!r}")
        self._aliases[alias.casefold()] = target.casefold()

    def resolve(self, name: str) -> str:
        """The registered name behind ``name`` (itself or the metric it aliases)."""
        key = name.strip().casefold()
        if key in _UNSUPPORTED and key not in self._metrics:
            raise UnsupportedMetricError(_UNSUPPORTED[key])
        key = self._aliases.get(key, key)
        if key not in self._metrics:
            known = ", ".join(sorted(self._metrics))
            raise UnknownMetricError(f"unknown metric {name!r}; known metrics: {known} (and the study's names)")
        return key

    def get(self, name: str) -> Metric:
        """The metric registered as ``name`` or aliased by it."""
        return self._metrics[self.resolve(name)]

    def names(self) -> list[str]:
        """Registered metric names (not aliases), sorted."""
        return sorted(self._metrics)

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve(str(name))
        except ValueError:
            return False
        return True


def builtin_registry() -> MetricRegistry:
    """A new registry holding the built-in metrics and the study's aliases."""
    metrics = [
        Metric("exact_match", "normalized strings equal", exact_match),
        Metric("binary_flex", "flexible binary accuracy (yes/true/1/positive vs no/false/0/negative)", binary_flex),
        Metric("first_number", "same answer number (after '####', else first number)", first_number),
        Metric("rouge_l", "ROUGE-L F-measure", rouge_l),
        Metric("sts", "1 - |prediction - reference| / 5 (mean is 1 - MAE/5)", sts),
        Metric("json_match", "first JSON/literal structure equals the reference's", json_match),
    ]
    return MetricRegistry(metrics, STUDY_ALIASES)


_BUILTINS = builtin_registry()  # read-only use below; callers wanting to add metrics make their own


def get_metric(name: str, registry: MetricRegistry | None = None) -> Metric:
    """The metric called ``name`` (a built-in or study name unless ``registry`` is given).

    Example:
        >>> get_metric("gsm8k_regex").name
        'first_number'
    """
    return (registry or _BUILTINS).get(name)


def infer_metric(references: Sequence[str], inputs: Sequence[str] | None = None,
                 prompts: Sequence[str] | None = None) -> str:
    """A metric for a task whose metric was not given, from its kind (see :mod:`tasks.task_kinds`), read from
    the reference completions and, when given, the inputs (the prompts' varying part) and whole prompts.

    It follows the study's conventions: labels -> ``exact_match``, or ``binary_flex`` when every label is a
    yes/no-like word; multiple choice -> ``exact_match``; numbers (answer-only, or GSM8K's ``#### n``) ->
    ``first_number``; 0-5 similarity scores -> ``sts``; short answers, structured output, code and free text
    -> ``rouge_l`` (the study scored its NER-as-JSON, SQL and QA tasks with ROUGE; ask for ``json_match``
    explicitly to compare structures).

    Example:
        >>> infer_metric(["yes", "no", "yes"]), infer_metric(["#### 72", "#### 5"]), infer_metric(["a cat sat"])
        ('binary_flex', 'first_number', 'rouge_l')
        >>> infer_metric(["14", "32", "8", "9", "120"])
        'first_number'
    """
    refs = [str(r).strip() for r in references]
    if not refs:
        raise ValueError("cannot infer a metric from no references")
    from tasks.task_kinds import detect_task_kind, metric_for_kind

    return metric_for_kind(detect_task_kind(refs, inputs, prompts), refs)


def score(
    metric_name: str,
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    registry: MetricRegistry | None = None,
) -> float:
    """The task score: mean over examples of metric ``metric_name``.

    Example:
        >>> score("first_number", ["#### 72", "I think 5"], ["... #### 72", "#### 6"])
        0.5
    """
    return get_metric(metric_name, registry)(predictions, references)

"""What kind of task a dataset is, read from its outputs and inputs together, and the metric that kind implies.

The kind vocabulary lives here, once: the featurizers record the kind of every profiled task
(``TaskProfile.task_type``), the predictor reads it as indicator features, and :func:`tasks.metrics.infer_metric`
chooses a task's metric from it when none is given, following the study's conventions (``tasks.csv`` and the
reference tasks' ``metadata.yaml``):

=====================  ==============================================================  ================
kind                   what the outputs look like                                      metric
=====================  ==============================================================  ================
``classification``     a closed set of labels, each used by many examples              ``binary_flex``
                                                                                       (yes/no words) or
                                                                                       ``exact_match``
``multiple_choice``    an option's letter, index or text, the options listed in the    ``exact_match``
                       input
``numeric_answer``     a number (alone, with a unit, or after worked steps and         ``first_number``
                       ``####`` as in GSM8K)
``regression``         a score on the 0-5 similarity scale with fractions (STS-B)      ``sts``
``short_answer``       short answers that rarely repeat, often copied from the input   ``rouge_l``
                       (extractive QA)
``structured_output``  JSON objects or lists, calls like ``inform(name[x])``, tables   ``rouge_l``
``code``               code or SQL                                                     ``rouge_l``
``free_generation``    anything else: sentences and passages                           ``rouge_l``
=====================  ==============================================================  ================

Example:
    >>> detect_task_kind(["14", "32", "8", "9", "120"], ["Eli had 23 stickers ..."] * 5)
    'numeric_answer'
    >>> metric_for_kind("classification", ["yes", "no"])
    'binary_flex'
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

#: Every kind a task can be detected as, in the order the rules try them (see :func:`detect_task_kind`).
TASK_KINDS: tuple[str, ...] = (
    "code", "multiple_choice", "regression", "numeric_answer", "classification", "structured_output",
    "short_answer", "free_generation",
)

#: The metric each kind is scored with by default (classification: see :func:`metric_for_kind`).
KIND_METRICS: dict[str, str] = {
    "classification": "exact_match",
    "multiple_choice": "exact_match",
    "numeric_answer": "first_number",
    "regression": "sts",
    "short_answer": "rouge_l",
    "structured_output": "rouge_l",
    "code": "rouge_l",
    "free_generation": "rouge_l",
}

#: Share of outputs that must match a pattern for the task to get that pattern's kind.
MAJORITY = 0.5
#: Share of outputs that must be numbers (or option labels) for the numeric (or multiple-choice) kinds.
NEARLY_ALL = 0.9
#: Labels: at most this many distinct outputs, each used by at least ``MIN_LABEL_USES`` examples on average.
MAX_FEW_LABELS = 20
MIN_LABEL_USES = 3
#: Many labels (hundreds of topics): at most this share of the outputs distinct, and at most this share of
#: the examples carrying a label no other example has (a closed label set is reused; answers to questions
#: mostly are not), both counted on the first ``LABEL_REUSE_SAMPLE`` outputs: shares of distinct values
#: grow as a sample shrinks, so a fixed-size count keeps the kind from depending on the dataset's size.
MAX_LABEL_SHARE = 0.3
MAX_SINGLETON_SHARE = 0.1
LABEL_REUSE_SAMPLE = 500
#: Labels are short; so are short answers.
MAX_LABEL_WORDS = 4
MAX_SHORT_ANSWER_WORDS = 5
#: Numbers with at most this many distinct integer values, each well used, are labels (0/1, 1-5 stars).
MAX_NUMERIC_LABELS = 20
#: The STS scale the ``sts`` metric scores on.
STS_RANGE = (0.0, 5.0)

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?")
_NUMBER_ANSWER = re.compile(
    r"^(?:[$€£¥]\s*)?(?P<n>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)\s*(?:%|[A-Za-z]+(?:\s[A-Za-z]+)?)?\.?$"
)
_GSM8K_ANSWER = re.compile(r"####\s*[-+$]?\s*[\d.,]+\s*$")
_ARITHMETIC = re.compile(r"\d\s*[-+*/×÷=]\s*\d")
_CODE = re.compile(
    r"^\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|CREATE)\s|```|\bdef \w+\(|\bfunction\s*\w*\(|\breturn\b[^.]*;|"
    r"#include\s*<|\bimport \w+|\bpublic (?:static )?\w+|=>\s*\{|\bconsole\.log\(|\bprint\(",
    re.IGNORECASE,
)
_CALL_LIKE = re.compile(r"^\w+\s*\(.*\)$", re.DOTALL)
#: An option label as an answer: ``B``, ``(b)``, ``B.``, ``2``, ``Option 2``.
_OPTION_ANSWER = re.compile(r"^(?:option\s*|choice\s*)?\(?([A-Ha-h]|\d)\)?[.:]?$", re.IGNORECASE)
#: A line that lists an option: ``A. text``, ``(B) text``, ``C: text``, ``1) text``...
_OPTION_LINE = re.compile(r"^[ \t#*-]*(?:\(([A-Ha-h]|\d)\)|([A-H]|\d)[.:)])[ \t]+(\S.*)$", re.MULTILINE)
#: ... or a named option: ``Option 2: text``, ``option1 - text``, ``### Choice B`` with the text on the next line.
_NAMED_OPTION = re.compile(
    r"^[ \t#*-]*(?:option|choice)[ \t_]*([A-Ha-h]|\d)[ \t]*[.:)-]?[ \t]*\n?[ \t]*(\S.*)$", re.IGNORECASE | re.MULTILINE
)

@dataclass(frozen=True)
class OutputStats:
    """The counts the kind rules read, over the non-empty (stripped) outputs of a sample.

    Example:
        >>> s = OutputStats.of(["yes", "no", "yes", "maybe"])
        >>> s.n, s.distinct, s.singleton_share
        (4, 3, 0.5)
    """

    n: int
    distinct: int
    singleton_share: float
    mean_words: float

    @classmethod
    def of(cls, outputs: Sequence[str]) -> "OutputStats":
        counts = Counter(outputs)
        n = len(outputs)
        singletons = sum(1 for c in counts.values() if c == 1)
        words = sum(len(o.split()) for o in outputs) / n if n else 0.0
        return cls(n, len(counts), singletons / n if n else math.nan, words)

    def labels_reused(self, head: "OutputStats | None" = None) -> bool:
        """Whether the outputs look like a closed set of reused labels: two labels; a few (at most 20), each
        used three times on average; or many, judged on ``head`` (the counts of the first
        :data:`LABEL_REUSE_SAMPLE` outputs; default: these counts)."""
        if self.distinct <= 2:
            return self.n > self.distinct
        if self.distinct <= MAX_FEW_LABELS and self.n >= MIN_LABEL_USES * self.distinct:
            return True
        head = head or self
        return head.distinct <= MAX_LABEL_SHARE * head.n and head.singleton_share <= MAX_SINGLETON_SHARE


def number_answer(text: str) -> float | None:
    """The number a short numeric answer states (``14``, ``-2.5``, ``$1,200``, ``40%``, ``18 apples``), else None.

    Example:
        >>> [number_answer(t) for t in ["14", "$1,200", "3.5 km", "40%", "two", "1 or 2"]]
        [14.0, 1200.0, 3.5, 40.0, None, None]
    """
    m = _NUMBER_ANSWER.match(text.strip())
    if m is None:
        return None
    try:
        return float(m.group("n").replace(",", ""))
    except ValueError:
        return None


def is_structured(text: str) -> bool:
    """Whether an output is structured data: a JSON/Python object or list, a call like ``inform(name[x])``, or a
    table (two or more lines with at least two ``|`` each).

    Example:
        >>> [is_structured(t) for t in ['{"a": 1}', "inform(name[X])", "a | b | c\\n1 | 2 | 3", "plain text"]]
        [True, True, True, False]
    """
    t = text.strip()
    if (t[:1], t[-1:]) in (("{", "}"), ("[", "]")):
        return True
    if _CALL_LIKE.match(t):
        return True
    if sum(1 for line in t.splitlines() if line.count("|") >= 2) >= 2:
        return True
    try:
        return isinstance(json.loads(t), (dict, list))
    except (json.JSONDecodeError, ValueError, RecursionError):
        return False


def listed_options(prompt: str) -> list[tuple[str, str]]:
    """The options a prompt lists, as (label, text): named options (``Option 1: text``, a ``### option1`` header
    over its text), else lines like ``A. text`` / ``(B) text``, else the items of the first list literal
    (``['end one', 'end two']``, labelled 0, 1, ...).

    Example:
        >>> listed_options("Which?\\nA. red\\nB. blue")
        [('a', 'red'), ('b', 'blue')]
        >>> listed_options("Endings: ['runs.', 'sits.']")
        [('0', 'runs.'), ('1', 'sits.')]
    """
    for pattern in (_NAMED_OPTION, _OPTION_LINE):
        found = []
        for m in pattern.finditer(prompt):
            *labels, text = m.groups()
            found.append((next(g for g in labels if g).lower(), text.strip()))
        if len(found) >= 2:
            return found
    return _list_literal_options(prompt)


def _list_literal_options(prompt: str) -> list[tuple[str, str]]:
    start = prompt.find("[")
    if start < 0:
        return []
    from tasks.metrics import first_json_value  # the metrics' own parser of the first JSON/literal structure

    value = first_json_value(prompt[start:])
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) for v in value):
        return []
    return [(str(i), v.strip()) for i, v in enumerate(value)]


def _answers_an_option(output: str, options: list[tuple[str, str]]) -> bool:
    m = _OPTION_ANSWER.match(output.strip())
    if m is not None:
        label = m.group(1).lower()
        labels = {lab for lab, _ in options}
        if label in labels:
            return True
        # An index into the listed options, 0- or 1-based (MMLU lists A-D and answers 0-3).
        return label.isdigit() and int(label) <= len(options)
    text = output.strip().casefold()
    return any(text == t.casefold() for _, t in options)


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def detect_task_kind(outputs: Sequence[str], inputs: Sequence[str] | None = None,
                     prompts: Sequence[str] | None = None) -> str:
    """The task's kind (one of :data:`TASK_KINDS`) from its outputs and, when given, its inputs.

    ``inputs`` are the varying part of each prompt (a template's field values; what "found in the input"
    reads), ``prompts`` the whole prompts (where listed options are looked for; default: ``inputs``). The
    rules, tried in this order:

    1. **code**: most outputs look like code or SQL;
    2. **multiple_choice**: nearly all outputs are an option's label (a letter, or a digit indexing the
       options) or an option's text, and most prompts list two or more options; or the outputs are letters
       A-H alone;
    3. **classification** already when every output is one yes/no-like word (yes/no, true/false, 1/0,
       positive/negative);
    4. **regression**: nearly all outputs are numbers on the 0-5 scale, some with fractions;
    5. **numeric_answer**: nearly all outputs are a number (possibly with a unit or currency) and not a
       handful of reused integer labels; or most end in ``#### n`` (GSM8K), or end in a number and show
       arithmetic;
    6. **classification**: short outputs that form a closed set of reused labels (two labels; at most 20,
       each used three times on average; or hundreds, when at most 30% of outputs are distinct and at most
       10% of examples have a label of their own), and the labels are not simply copied from the input;
    7. **structured_output**: most outputs are JSON objects or lists, calls or tables;
    8. **short_answer**: short outputs (at most 5 words on average), or most outputs copied from the input;
    9. **free_generation**: everything else.

    Example:
        >>> detect_task_kind(["B", "A", "D", "B"], ["Q?\\nA. x\\nB. y\\nC. z\\nD. w"] * 4)
        'multiple_choice'
        >>> detect_task_kind(["Paris", "1912", "Ada Lovelace", "blue"], ["... Paris ...", "in 1912", "Ada Lovelace wrote", "sky"])
        'short_answer'
    """
    outs = [str(o).strip() for o in outputs]
    keep = [i for i, o in enumerate(outs) if o]
    outs = [outs[i] for i in keep]
    if not outs:
        return "free_generation"
    ins = [str(inputs[i]) for i in keep] if inputs is not None else None
    full = [str(prompts[i]) for i in keep] if prompts is not None else ins
    stats = OutputStats.of(outs)
    head = OutputStats.of(outs[:LABEL_REUSE_SAMPLE]) if len(outs) > LABEL_REUSE_SAMPLE else stats

    if _share([bool(_CODE.search(o)) for o in outs]) >= MAJORITY:
        return "code"
    if _is_multiple_choice(outs, full, stats):
        return "multiple_choice"

    if _all_binary_words(outs):
        return "classification"

    numbers = [number_answer(o) for o in outs]
    if _share([v is not None for v in numbers]) >= NEARLY_ALL:
        values = [v for v in numbers if v is not None]
        fractional = _share(["." in o for o, v in zip(outs, numbers) if v is not None])
        lo, hi = STS_RANGE
        if fractional >= 0.05 and all(lo <= v <= hi for v in values):
            return "regression"
        integer_labels = fractional == 0 and stats.distinct <= MAX_NUMERIC_LABELS and stats.labels_reused(head)
        if not integer_labels:
            return "numeric_answer"
    elif _share([bool(_GSM8K_ANSWER.search(o)) for o in outs]) >= MAJORITY or (
        _share([bool(w) and _NUMBER.fullmatch(w[-1].rstrip(".")) is not None and any(c.isdigit() for c in w[-1])
                for w in (o.split() for o in outs)]) >= MAJORITY
        and _share([bool(_ARITHMETIC.search(o)) for o in outs]) >= MAJORITY
    ):
        return "numeric_answer"

    copied = _share([o.casefold() in i.casefold() for o, i in zip(outs, ins)]) if ins is not None else 0.0
    if stats.mean_words <= MAX_LABEL_WORDS and stats.labels_reused(head):
        few_binary = stats.distinct <= 2
        if few_binary or copied < MAJORITY or stats.n >= 5 * stats.distinct:
            return "classification"
    if _share([is_structured(o) for o in outs]) >= MAJORITY:
        return "structured_output"
    if stats.mean_words <= MAX_SHORT_ANSWER_WORDS or copied >= MAJORITY:
        return "short_answer"
    return "free_generation"


def _is_multiple_choice(outs: list[str], prompts: list[str] | None, stats: OutputStats) -> bool:
    labels = [_OPTION_ANSWER.match(o) for o in outs]
    if stats.distinct < 2:
        return False
    letters = [m is not None and m.group(1).isalpha() for m in labels]
    if _share(letters) >= NEARLY_ALL and stats.distinct <= 8:
        return True
    if prompts is None:
        return False
    options = [listed_options(p) for p in prompts]
    if _share([len(o) >= 2 for o in options]) < MAJORITY:
        return False
    return _share([len(opts) >= 2 and _answers_an_option(o, opts) for o, opts in zip(outs, options)]) >= NEARLY_ALL


def _all_binary_words(outputs: Sequence[str]) -> bool:
    from tasks.metrics import truth_value  # the binary metric's own reading of a yes/no word

    return bool(outputs) and all(len(o.split()) == 1 and truth_value(o) is not None for o in outputs)


def metric_for_kind(kind: str, outputs: Sequence[str] = ()) -> str:
    """The metric name a task of ``kind`` is scored with: :data:`KIND_METRICS`, except that a classification
    whose every label is one yes/no-like word (yes/no, true/false, 1/0, positive/negative) gets ``binary_flex``.

    Example:
        >>> metric_for_kind("classification", ["Positive", "negative"]), metric_for_kind("classification", ["pos", "neg"])
        ('binary_flex', 'exact_match')
    """
    if kind not in KIND_METRICS:
        raise ValueError(f"unknown task kind {kind!r}; kinds are: {', '.join(TASK_KINDS)}")
    if kind == "classification" and _all_binary_words([str(o).strip() for o in outputs if str(o).strip()]):
        return "binary_flex"
    return KIND_METRICS[kind]

"""The heuristics a forecast reads depend on the task, not on how its file is written.

Property-based (hypothesis) on small data: rewording the template's fixed text, writing the template into the
prompts instead of giving it as a template, repeating every row k times, shuffling the rows and renaming the
columns leave every heuristic of INVARIANT_HEURISTICS, the task kind and the metric exactly unchanged (the
whole data is profiled, and the sample of a bigger file is a function of its unique examples). Exact mode sums
in the file's order, so there the tolerance is floating-point rounding (1e-9 relative).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from featurizers import INVARIANT_HEURISTICS, TaskProfile, load_task, profile
from tasks import TaskTemplate

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "red", "blue", "7", "12", "yes", "no"]
_sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
_label = st.sampled_from(["yes", "no", "maybe"])
_output = st.one_of(_label, _sentence)
_rows = st.lists(st.tuples(_sentence, _output), min_size=2, max_size=30).filter(lambda rows: len({q for q, _ in rows}) >= 2)

#: Instruction wordings around one field; each starts and ends at a word boundary, as real templates do.
_FIXED_TEXTS = [
    ("", ""),
    ("Question: ", "\nAnswer:"),
    ("Read the sentence below and answer it.\n\nSentence: ", "\n\nYour answer:"),
    ("### Input:\n", "\n### Response:\n"),
]
_fixed = st.sampled_from(_FIXED_TEXTS)

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(a: TaskProfile, b: TaskProfile, *, rel: float = 0.0) -> None:
    for name in INVARIANT_HEURISTICS:
        x, y = a[name], b[name]
        assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=rel, abs=rel), name
    assert a.task_type == b.task_type and a.metric == b.metric
    assert a.n_unique == b.n_unique and a.n_examples == b.n_examples


def _templated(rows, prefix: str, suffix: str, columns=("question", "answer")):
    q, a = columns
    frame = pd.DataFrame({q: [r[0] for r in rows], a: [r[1] for r in rows]})
    template = TaskTemplate(prefix.replace("{", "{{").replace("}", "}}") + "{" + q + "}" + suffix, target_col=a)
    return load_task(frame, template=template)


def _written_in(rows, prefix: str, suffix: str):
    return load_task(pd.DataFrame({"prompt": [prefix + q + suffix for q, _ in rows], "completion": [a for _, a in rows]}))


@PROPERTY
@given(_rows, _fixed, _fixed)
def test_rewording_the_templates_fixed_text_changes_no_invariant_heuristic(rows, one, other):
    _same(profile(_templated(rows, *one)), profile(_templated(rows, *other)))


@PROPERTY
@given(_rows, _fixed, _fixed)
def test_a_template_written_into_the_prompts_reads_like_the_template(rows, one, other):
    _same(profile(_templated(rows, *one)), profile(_written_in(rows, *other)))


_pairs_of_fields = st.lists(st.tuples(_sentence, _sentence, _output), min_size=2, max_size=25).filter(
    lambda rows: len({(q, c) for q, c, _ in rows}) >= 2
)


@PROPERTY
@given(_pairs_of_fields)
# Field values that share words with each other, as CI once drew: the shared end holds a whole value of one
# row; the values swap between rows; the same words split into other lines.
@example([("the", "the", "yes"), ("the the", "the the", "yes")])
@example([("the", "the the", "yes"), ("the the", "the", "yes")])
@example([("the", "the the", "yes"), ("the the", "the the the", "yes")])
@example([("the", "the the the the", "yes"), ("the the", "the the the", "yes")])
def test_two_fields_written_into_the_prompts_read_like_the_template_that_labels_them_otherwise(rows):
    frame = pd.DataFrame({"q": [r[0] for r in rows], "c": [r[1] for r in rows], "a": [r[2] for r in rows]})
    templated = load_task(frame, template="Question: {q}\nPassage: {c}\nAnswer:", target_col="a")
    written = load_task(pd.DataFrame({
        "prompt": [f"Read the passage, then answer.\n\nQ: {q}\nWhich passage?\nContext: {c}\n\nA:" for q, c, _ in rows],
        "completion": [a for _, _, a in rows],
    }))
    _same(profile(templated), profile(written))


@PROPERTY
@given(_rows, st.integers(2, 5))
def test_repeating_every_row_k_times_changes_no_invariant_heuristic(rows, k):
    once, repeated = profile(_written_in(rows, "Q: ", "\nA:")), profile(_written_in(rows * k, "Q: ", "\nA:"))
    _same(once, repeated)
    assert repeated.n_rows == k * len(rows) and repeated.n_unique == once.n_unique
    assert repeated.duplicate_share == pytest.approx(1 - once.n_unique / (k * len(rows)))
    assert any("repeat an earlier example exactly" in w for w in repeated.warnings)


@PROPERTY
@given(_rows, st.randoms(use_true_random=False))
def test_shuffling_the_rows_changes_no_invariant_heuristic(rows, rng):
    shuffled = list(rows)
    rng.shuffle(shuffled)
    _same(profile(_written_in(rows, "Q: ", "\nA:")), profile(_written_in(shuffled, "Q: ", "\nA:")))
    _same(profile(_written_in(rows, "Q: ", "\nA:"), exact=True),
          profile(_written_in(shuffled, "Q: ", "\nA:"), exact=True), rel=1e-9)


@PROPERTY
@given(_rows)
def test_renaming_the_columns_changes_no_heuristic_at_all(rows):
    a = profile(_templated(rows, "Q: ", "\nA:"))
    b = profile(_templated(rows, "Q: ", "\nA:", columns=("text", "label")))
    assert a.heuristics == pytest.approx(b.heuristics, nan_ok=True)
    assert a.task_type == b.task_type and a.metric == b.metric


def test_a_bigger_file_is_sampled_from_its_unique_examples_whatever_their_order_and_repetition():
    rng = np.random.default_rng(0)
    rows = [(" ".join(rng.choice(WORDS, int(rng.integers(3, 15)))) + f" {i}", str(rng.choice(["yes", "no"])))
            for i in range(3000)]
    shuffled = [rows[i] for i in rng.permutation(len(rows))] * 3
    a = profile(_written_in(rows, "Q: ", "\nA:"), 500)
    b = profile(_written_in(shuffled, "Q: ", "\nA:"), 500)
    assert a.sampled and b.sampled and b.duplicate_share == pytest.approx(2 / 3)
    _same(a, b)
    assert a.intervals == b.intervals


def test_the_studys_own_definitions_still_see_the_template_text():
    rows = [(f"the cat sat on mat {i}", "yes" if i % 2 else "no") for i in range(40)]
    short, long = profile(_templated(rows, *_FIXED_TEXTS[1])), profile(_templated(rows, *_FIXED_TEXTS[2]))
    assert long["input_tokens_mean"] > short["input_tokens_mean"] + 5
    assert long["compressibility_mean"] != short["compressibility_mean"]
    assert long["content_input_tokens_mean"] == short["content_input_tokens_mean"]


def test_heuristics_that_count_distinct_outputs_or_neighbours_do_not_grow_with_the_dataset():
    """Read in windows of 500 examples, they give a small and a big sample of one task alike (old definitions:
    the entropy of free text was log2 of the sample's size, and a bigger pool held nearer neighbours)."""
    rng = np.random.default_rng(3)
    topics = [f"topic{k}" for k in range(40)]

    def rows(n):
        out = []
        for i in range(n):
            t = topics[int(rng.integers(40))]
            out.append((f"{t} " + " ".join(rng.choice(WORDS, 6)) + f" case {i}", f"{t} answer {int(rng.integers(1000))}"))
        return out

    small, big = profile(_written_in(rows(1000), "Q: ", "\nA:")), profile(_written_in(rows(4000), "Q: ", "\nA:"))
    assert small["label_entropy"] == pytest.approx(big["label_entropy"], abs=0.05)
    assert small["output_distinct_ratio"] == pytest.approx(big["output_distinct_ratio"], abs=0.02)
    assert small["nearest_neighbor_score"] == pytest.approx(big["nearest_neighbor_score"], abs=0.03)

